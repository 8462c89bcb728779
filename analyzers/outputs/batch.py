"""A batch of pending SQL writes, held column-wise so NumPy results never become Python rows
until the driver needs them.

Per-event tables (`reco`, `macro`) are dicts of NumPy columns: float64 with NaN for NULL,
int64, datetime64[us] with NaT for NULL, object arrays of str/None. Low-rate tables (`runs`,
`slow_control`, `pedestals`) are plain lists of dict records. A batch also carries the runs to
wipe before inserting (re-processing) — everything is applied in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

Columns = dict[str, np.ndarray]

UTC = dt.timezone.utc


@dataclass
class Batch:
    """Everything one transaction writes."""

    replace_runs: list[tuple[int, int | None]] = field(default_factory=list)
    events: dict[str, Columns] = field(default_factory=dict)
    records: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    # counts added to a Run row's columns SQL-side (run, {column: n}), after the records
    add_counts: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    # the processing pass its reco/macro rows belong to (None: the writer's own)
    pass_name: str | None = None

    @property
    def n_rows(self) -> int:
        rows = sum(column_length(cols) for cols in self.events.values())
        return rows + sum(len(recs) for _, recs in self.records)

    def is_empty(self) -> bool:
        return not self.replace_runs and not self.add_counts and self.n_rows == 0


def column_length(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def to_utc_naive(value: Any) -> dt.datetime | None:
    """A timestamp as naive UTC: epoch seconds, aware or naive (taken as UTC) datetime,
    numpy.datetime64 or ISO string."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        return value.astype("datetime64[us]").astype(dt.datetime)
    if isinstance(value, str):
        return to_utc_naive(dt.datetime.fromisoformat(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not np.isfinite(value):
            return None
        return dt.datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    raise TypeError(f"not a time: {value!r}")


# -- NumPy columns -> driver rows ----------------------------------------------------------

def column_to_list(values: np.ndarray) -> list[Any]:
    """A NumPy column as Python values, NULL (NaN, inf, NaT) as None; no per-row Python work
    when the column has no NULLs."""
    kind = values.dtype.kind
    if kind == "f":
        finite = np.isfinite(values)
        if finite.all():
            return values.tolist()
        out = values.astype(object)
        out[~finite] = None
        return out.tolist()
    if kind == "M":
        return values.astype("datetime64[us]").tolist()  # NaT -> None
    return values.tolist()


def columns_to_rows(columns: Columns, order: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows (tuples in `order`) for DB-API executemany, built by zipping whole columns."""
    return list(zip(*(column_to_list(columns[name]) for name in order), strict=True))


# -- NumPy columns <-> Arrow (bulk loading and the spool) -----------------------------------

def columns_to_arrow(columns: Columns, order: Sequence[str]) -> pa.Table:
    """An Arrow table, NULLs (NaN/inf/NaT/None) as Arrow nulls."""
    arrays = []
    for name in order:
        values = columns[name]
        kind = values.dtype.kind
        if kind == "f":
            finite = np.isfinite(values)
            arrays.append(pa.array(values, mask=None if finite.all() else ~finite))
        elif kind == "M":
            arrays.append(pa.array(values.astype("datetime64[us]"), from_pandas=True))
        elif kind == "O":
            arrays.append(pa.array(values.tolist(), type=pa.string()))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(order))


def arrow_to_columns(table: pa.Table) -> Columns:
    """Back to NumPy columns (inverse of `columns_to_arrow`, NULL floats as NaN)."""
    columns: Columns = {}
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_floating(kind):
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        elif pa.types.is_timestamp(kind):
            columns[name] = column.to_numpy(zero_copy_only=False).astype("datetime64[us]")
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            columns[name] = np.array(column.to_pylist(), dtype=object)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    return columns
