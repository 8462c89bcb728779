"""The truth sidecar of a simulated run: one Parquet file next to the MIDAS file.

`run00042.mid.lz4` → `run00042.truth.parquet`.  One row per injected signal:

- `event`   int64   MIDAS serial number of the camera event (0-based trigger index)
- `signal`  int32   index of the signal within its event (time order)
- the scalar fields of `TrueSignal` (kind, x, y, theta, length, light, light_sensor,
  energy_kev, sigma, z, time, z_start, z_end, x_start, y_start, x_end, y_end, path_length, group,
  pmt_event), float64/int32/string
- `pmt_charge`       list<float32>  integrated pulse of each PMT (fast board, ADC×samples)
- `footprint`        list<int32>    flat pixel indices row * n_cols + col, sorted
- `footprint_light`  list<float32>  ADU deposited in each footprint pixel (after vignetting)

The schema metadata key `cygno_mw.truth` holds JSON: format version, image `shape`
[rows, cols], `n_events` (so events without signals are known too) and run details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError
from cygno_mw.simulation.signals import TrueSignal

TRUTH_FORMAT = 1
METADATA_KEY = b"cygno_mw.truth"
_SCALAR_FIELDS = [f.name for f in fields(TrueSignal)
                  if f.name not in ("pmt_charge", "footprint", "footprint_light")]
_INT_FIELDS = {"group", "pmt_event"}
_MIDAS_SUFFIX = re.compile(r"\.mid(\.lz4|\.gz|\.bz2)?$")


def truth_path_for(midas_path: str | Path) -> Path:
    """Where the sidecar of this MIDAS file lives (`.mid[.lz4|.gz]` → `.truth.parquet`)."""
    midas_path = Path(midas_path)
    stem = _MIDAS_SUFFIX.sub("", midas_path.name)
    return midas_path.with_name(stem + ".truth.parquet")


def save_truth(
    path: str | Path,
    truth_per_event: Mapping[int, Sequence[TrueSignal]] | Sequence[Sequence[TrueSignal]],
    *,
    shape: tuple[int, int] = (2304, 2304),
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write the truth of every event (keyed by serial number, or a list in event order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    events = (dict(truth_per_event) if isinstance(truth_per_event, Mapping)
              else dict(enumerate(truth_per_event)))
    rows = [(event, index, signal) for event in sorted(events)
            for index, signal in enumerate(events[event])]
    columns: dict[str, Any] = {
        "event": pa.array([r[0] for r in rows], pa.int64()),
        "signal": pa.array([r[1] for r in rows], pa.int32()),
    }
    for name in _SCALAR_FIELDS:
        values = [getattr(r[2], name) for r in rows]
        if name == "kind":
            columns[name] = pa.array(values, pa.string())
        elif name in _INT_FIELDS:
            columns[name] = pa.array(values, pa.int32())
        else:
            columns[name] = pa.array(values, pa.float64())
    columns["pmt_charge"] = _list_column([r[2].pmt_charge for r in rows], np.float32)
    columns["footprint"] = _list_column([r[2].footprint for r in rows], np.int32)
    columns["footprint_light"] = _list_column([r[2].footprint_light for r in rows], np.float32)

    info = {"format": TRUTH_FORMAT, "shape": [int(shape[0]), int(shape[1])],
            "n_events": (max(events) + 1) if events else 0, **(metadata or {})}
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: json.dumps(info)})
    path = Path(path)
    pq.write_table(table, path, compression="zstd")
    return path


def load_truth(path: str | Path) -> dict[int, list[TrueSignal]]:
    """The truth per event serial number; events without signals map to empty lists."""
    table, info = _read(path)
    truth: dict[int, list[TrueSignal]] = {event: [] for event in range(info.get("n_events", 0))}
    scalars = {name: table.column(name).to_pylist() for name in _SCALAR_FIELDS}
    lists = {name: _split_list_column(table.column(name), dtype)
             for name, dtype in (("pmt_charge", np.float32), ("footprint", np.int64),
                                 ("footprint_light", np.float32))}
    for i, event in enumerate(table.column("event").to_pylist()):
        values: dict[str, Any] = {name: scalars[name][i] for name in _SCALAR_FIELDS}
        values.update({name: parts[i] for name, parts in lists.items()})
        truth.setdefault(int(event), []).append(TrueSignal(**values))
    return truth


def truth_table(path: str | Path):  # -> pandas.DataFrame
    """The scalar truth columns as a DataFrame (no footprints), for analysis and plots."""
    table, _ = _read(path, columns=["event", "signal", *_SCALAR_FIELDS])
    return table.to_pandas()


def truth_metadata(path: str | Path) -> dict[str, Any]:
    """The sidecar's JSON metadata (format, shape, n_events, run details)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        raise CygnoError(f"truth file {path} is not readable: {exc}") from None
    return _metadata(schema, path)


def _read(path: str | Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, ValueError) as exc:
        raise CygnoError(f"truth file {path} is not readable: {exc}") from None
    return table, _metadata(table.schema, path)


def _metadata(schema, path: str | Path) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise CygnoError(f"{path} is not a cygno-mw truth file (no {METADATA_KEY.decode()})")
    info = json.loads(raw)
    if info.get("format", 0) > TRUTH_FORMAT:
        raise CygnoError(f"{path}: truth format {info['format']} is newer than this cygno-mw")
    return info


def _list_column(arrays: list[np.ndarray], dtype: type):
    """A list<dtype> Arrow column built from one offsets array and one values array."""
    import pyarrow as pa

    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = (np.concatenate([np.asarray(a, dtype=dtype) for a in arrays]) if arrays
              else np.zeros(0, dtype=dtype))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def _split_list_column(column, dtype: type) -> list[np.ndarray]:
    """A list<…> Arrow column as one numpy array per row."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = array.offsets.to_numpy()
    values = array.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(array))]
