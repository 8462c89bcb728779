"""The per-run reco output file: one entry per image, as the experiment's reco tree.

Columns: `run`, `camera`, `event` (MIDAS serial number), `timestamp` (UNIX s), the image
summaries (`nclusters`, `cmos_integral`, `cmos_mean`, `cmos_rms`, `processing_time_s`),
`nSc` and one list per cluster variable (`sc_integral`, `sc_xmean`, ...; nSc values each).

- Parquet (default): list<double> columns; `pandas.read_parquet(f).explode([...])` gives
  one row per cluster (the SQL `reco` table has them that way already).
- ROOT (`reco_file_format root`, via uproot): TTree `Events`, the sc_* branches jagged
  with the shared counter `nSc`, like the experiment's reconstruction output.

Provenance (the processing pass, parameters, code revision, pedestals; see
`analyzers/provenance.py`) is stored as JSON: the Parquet key-value metadata
`cygno.provenance`, or the ROOT TObjString `cygno_provenance`; `read_provenance(path)`
returns it (`cygno-mw sql passes --file F` prints it).

The file is written under a temporary name and renamed when complete, so a file with the
final name is always whole.  Rows are buffered and written every `ROWS_PER_GROUP` images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError
from cygno_mw.gpu.cluster_variables import CLUSTER_VARIABLES

ROWS_PER_GROUP = 64
IMAGE_COLUMNS = ("nclusters", "cmos_integral", "cmos_mean", "cmos_rms", "processing_time_s")
SUFFIXES = {"parquet": ".parquet", "root": ".root"}
PARQUET_PROVENANCE = "cygno.provenance"
ROOT_PROVENANCE = "cygno_provenance"


def reco_file_name(run: int, file_format: str, pass_name: str | None = None) -> str:
    """run00012_reco_<pass>.parquet: one file per run and processing pass, so a new pass
    never overwrites an earlier one's file (run00012_reco.parquet without a pass)."""
    tail = f"_{pass_name}" if pass_name else ""
    return f"run{int(run):05d}_reco{tail}{SUFFIXES[file_format]}"


class RecoFileWriter:
    """Collects images' results and writes them to one Parquet or ROOT file."""

    def __init__(self, path: str | Path, file_format: str) -> None:
        if file_format not in SUFFIXES:
            raise CygnoError(f"reco file format {file_format!r}: use parquet or root")
        self.path = Path(path)
        self.format = file_format
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(self.path.name + ".part")
        self._rows: list[tuple[int, int, int, int, dict[str, float], dict[str, np.ndarray]]] = []
        self._writer: Any = None
        self._file: Any = None
        self.images = 0
        self.provenance: dict[str, Any] | None = None  # written into the file at close

    def add(self, run: int, camera: int, event: int, timestamp: int, result: Any) -> None:
        """One image's `ImageResult` (clusters, image, timings)."""
        image = dict(result.image)
        image["processing_time_s"] = float(result.timings.get("total", np.nan))
        self._rows.append((int(run), int(camera), int(event), int(timestamp), image,
                           result.clusters))
        self.images += 1
        if len(self._rows) >= ROWS_PER_GROUP:
            self._write_rows()

    def _columns(self) -> dict[str, Any]:
        rows = self._rows
        columns: dict[str, Any] = {
            "run": np.array([r[0] for r in rows], dtype=np.int32),
            "camera": np.array([r[1] for r in rows], dtype=np.int16),
            "event": np.array([r[2] for r in rows], dtype=np.int64),
            "timestamp": np.array([r[3] for r in rows], dtype=np.int64),
        }
        for name in IMAGE_COLUMNS:
            columns[name] = np.array([float(r[4].get(name, np.nan)) for r in rows])
        columns["nclusters"] = columns["nclusters"].astype(np.int32)
        counts = np.array([len(r[5][CLUSTER_VARIABLES[0]]) for r in rows], dtype=np.int32)
        columns["nSc"] = counts
        for name in CLUSTER_VARIABLES:
            parts = [np.asarray(r[5][name], dtype=np.float64) for r in rows]
            flat = np.concatenate(parts) if parts else np.zeros(0)
            columns[name] = (counts, flat)
        return columns

    def _write_rows(self, even_if_empty: bool = False) -> None:
        if not self._rows and not even_if_empty:
            return
        columns = self._columns()
        self._rows = []
        if self.format == "parquet":
            self._write_parquet(columns)
        else:
            self._write_root(columns)

    def _write_parquet(self, columns: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {}
        for name, value in columns.items():
            if isinstance(value, tuple):
                counts, flat = value
                offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
                arrays[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
            else:
                arrays[name] = pa.array(value)
        table = pa.table(arrays)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._partial, table.schema, compression="zstd")
        self._writer.write_table(table)

    def _write_root(self, columns: dict[str, Any]) -> None:
        import awkward as ak
        import uproot

        data: dict[str, Any] = {}
        for name, value in columns.items():
            if name == "nSc":
                continue
            if isinstance(value, tuple):
                counts, flat = value
                data[name] = ak.unflatten(flat, counts)
            else:
                data[name] = value
        if self._file is None:
            self._file = uproot.recreate(self._partial)
            types = {name: ("var * float64" if name in CLUSTER_VARIABLES else value.dtype)
                     for name, value in data.items()}
            self._writer = self._file.mktree("Events", types, counter_name=lambda _: "nSc")
        self._writer.extend(data)

    def close(self) -> Path:
        """Write what is left and give the file its final name; returns it."""
        self._write_rows(even_if_empty=self._writer is None)  # no image: an empty file
        text = None if self.provenance is None else json.dumps(self.provenance, default=str)
        if self.format == "parquet":
            if text is not None:
                self._writer.add_key_value_metadata({PARQUET_PROVENANCE: text})
            self._writer.close()
        else:
            if text is not None:
                self._file[ROOT_PROVENANCE] = text
            self._file.close()
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file (after an error)."""
        try:
            if self.format == "parquet" and self._writer is not None:
                self._writer.close()
            elif self._file is not None:
                self._file.close()
        finally:
            self._partial.unlink(missing_ok=True)


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance JSON a reco file carries (None: a file written before passes)."""
    path = Path(path)
    if not path.is_file():
        raise CygnoError(f"{path}: no such file")
    if path.suffix == ".root":
        import uproot

        with uproot.open(path) as handle:
            if ROOT_PROVENANCE not in handle:
                return None
            return dict(json.loads(str(handle[ROOT_PROVENANCE])))
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path).metadata or {}
    except Exception as exc:  # pyarrow raises its own types for a file that is not Parquet
        raise CygnoError(f"{path}: not a Parquet or ROOT reco file ({exc})") from None
    text = metadata.get(PARQUET_PROVENANCE.encode())
    return None if text is None else dict(json.loads(text))
