"""The experiment's Run table as exported to CSV (the runlog) -> rows of our `runs` table.

Column names follow `schema.RUNLOG_COLUMNS`; empty cells become NULL, counts stored as "84.0"
become integers, times are read as written (UTC).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import schema
from .errors import OutputError


def _convert(value: str, column: sa.Column) -> Any:
    text = value.strip()
    if text == "":
        return None
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return dt.datetime.fromisoformat(text)
    if isinstance(kind, sa.Integer):
        number = float(text)
        if not number.is_integer():
            raise ValueError(f"not an integer: {text!r}")
        return int(number)
    if isinstance(kind, sa.Float):
        return float(text)
    return text


def read_runlog_csv(path: str | Path) -> Iterator[dict[str, Any]]:
    """One `runs` record per CSV row; unknown headers are an error (the mapping is explicit)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        headers = reader.fieldnames or []
        unknown = [h for h in headers if h not in schema.RUNLOG_COLUMNS]
        if unknown:
            raise OutputError(f"{path}: unknown runlog columns {unknown} "
                              "(add them to schema.RUNLOG_COLUMNS and a migration)")
        if "run_number" not in headers:
            raise OutputError(f"{path}: no run_number column")
        for line, row in enumerate(reader, start=2):
            record = {}
            for header, value in row.items():
                name = schema.RUNLOG_COLUMNS[header]
                try:
                    record[name] = _convert(value or "", schema.runs.c[name])
                except ValueError as err:
                    raise OutputError(f"{path}:{line}: {header}: {err}") from None
            yield record
