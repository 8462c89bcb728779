"""A bounded on-disk queue of SQL batches, and `SpoolingSqlSink`, which uses it while the
database is down so the online analyzer never stops for it.

Each batch is one folder `<sequence>/` holding Arrow IPC files for the per-event columns and a
JSON file for the rest; it appears atomically (written under a temporary name, then renamed),
so a crash never leaves half a batch to replay. Batches replay oldest first; a batch is removed
only after its transaction committed. When the spool would exceed `max_bytes`, the new batch is
dropped and counted (old data is kept: replay order stays intact).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from sqlalchemy.engine import URL

from .batch import Batch, arrow_to_columns, columns_to_arrow
from .database import RetryPolicy
from .errors import DatabaseUnavailableError, OutputError
from .sql_writer import SqlSink

log = logging.getLogger(__name__)

_TIME_TAG = "__datetime__"


class Spool:
    """Batches on disk, oldest first, at most `max_bytes` in all."""

    def __init__(self, directory: str | Path, max_bytes: int = 1 << 30) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        for leftover in self.directory.glob(".tmp-*"):  # a crash while writing
            shutil.rmtree(leftover, ignore_errors=True)
        self.bytes_used = sum(_folder_size(p) for p in self._entries())
        self.dropped_batches = 0
        self.dropped_rows = 0

    def _entries(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.is_dir() and p.name.isdigit())

    def __len__(self) -> int:
        return len(self._entries())

    def append(self, batch: Batch) -> bool:
        """Store a batch after the others; False (and counted) if it would overflow."""
        entries = self._entries()
        sequence = int(entries[-1].name) + 1 if entries else 1
        temporary = self.directory / f".tmp-{uuid.uuid4().hex}"
        temporary.mkdir()
        try:
            _write_batch(batch, temporary)
            size = _folder_size(temporary)
            if self.bytes_used + size > self.max_bytes:
                shutil.rmtree(temporary, ignore_errors=True)
                self.dropped_batches += 1
                self.dropped_rows += batch.n_rows
                log.error("SQL spool %s full (%d of %d bytes): dropped a batch of %d rows",
                          self.directory, self.bytes_used, self.max_bytes, batch.n_rows)
                return False
            os.replace(temporary, self.directory / f"{sequence:012d}")
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        self.bytes_used += size
        return True

    def oldest(self) -> tuple[Path, Batch] | None:
        """The oldest stored batch and its folder (to `remove` once written), or None."""
        entries = self._entries()
        if not entries:
            return None
        return entries[0], _read_batch(entries[0])

    def remove(self, entry: Path) -> None:
        self.bytes_used -= _folder_size(entry)
        shutil.rmtree(entry, ignore_errors=True)


class SpoolingSqlSink(SqlSink):
    """A SqlSink that never raises for an unreachable database: the batch goes to the spool
    and is replayed, in order, at the next flush (or `drain()`) once the database is back.

    Credential and data errors still raise: waiting would not fix them.
    """

    def __init__(self, url: str | URL | None = None, *, spool_dir: str | Path,
                 max_spool_bytes: int = 1 << 30, retry: RetryPolicy | None = None,
                 **kwargs: Any) -> None:
        # One quick attempt per flush: the spool, not a sleeping analyzer, absorbs outages.
        super().__init__(url, retry=retry or RetryPolicy(attempts=2, initial_delay=0.2),
                         **kwargs)
        self.spool = Spool(spool_dir, max_spool_bytes)
        self.replayed_batches = 0
        self._flush_lock = threading.Lock()

    def flush(self) -> int:
        """Replay spooled batches, then write the buffer; spool it if the database is down."""
        with self._flush_lock:
            batch = self.take_batch()
            try:
                written = self._drain()
                if not batch.is_empty():
                    written += self.write_batch(batch)
                return written
            except DatabaseUnavailableError as down:
                if not batch.is_empty():
                    self.spool.append(batch)
                log.warning("database unavailable, %d batch(es) spooled in %s: %s",
                            len(self.spool), self.spool.directory, down)
                return 0

    def drain(self) -> int:
        """Replay spooled batches now; returns rows written (0 if the database is still down)."""
        with self._flush_lock:
            try:
                return self._drain()
            except DatabaseUnavailableError:
                return 0

    def _drain(self) -> int:
        written = 0
        while (oldest := self.spool.oldest()) is not None:
            entry, batch = oldest
            written += self.write_batch(batch)
            self.spool.remove(entry)
            self.replayed_batches += 1
        return written

    def stats(self) -> dict[str, int]:
        """Spool state: batches waiting, bytes used, batches replayed, batches/rows dropped."""
        return {
            "spooled_batches": len(self.spool), "spooled_bytes": self.spool.bytes_used,
            "replayed_batches": self.replayed_batches,
            "dropped_batches": self.spool.dropped_batches,
            "dropped_rows": self.spool.dropped_rows, "rows_written": self.rows_written,
        }

    def close(self) -> None:
        """Flush (spooling if needed) and release connections; the spool stays on disk."""
        super().close()


# -- batch <-> folder ----------------------------------------------------------------------

def _write_batch(batch: Batch, folder: Path) -> None:
    for name, columns in batch.events.items():
        table = columns_to_arrow(columns, list(columns))
        with pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink, \
                ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    meta = {"replace_runs": batch.replace_runs, "events": list(batch.events),
            "records": batch.records, "add_counts": batch.add_counts,
            "pass_name": batch.pass_name}
    (folder / "batch.json").write_text(json.dumps(meta, default=_encode))


def _read_batch(folder: Path) -> Batch:
    try:
        meta = json.loads((folder / "batch.json").read_text(), object_hook=_decode)
        events = {}
        for name in meta["events"]:
            with pa.memory_map(str(folder / f"{name}.arrow")) as source:
                events[name] = arrow_to_columns(ipc.open_file(source).read_all())
    except (OSError, ValueError, KeyError, pa.ArrowException) as err:
        raise OutputError(f"unreadable spooled batch {folder}: {err}") from None
    return Batch(replace_runs=[tuple(r) for r in meta["replace_runs"]], events=events,
                 records=[(name, records) for name, records in meta["records"]],
                 add_counts=[(int(run), dict(counts))
                             for run, counts in meta.get("add_counts", [])],
                 pass_name=meta.get("pass_name"))  # absent in spools older than passes


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {_TIME_TAG: value.isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _TIME_TAG in obj:
        return dt.datetime.fromisoformat(obj[_TIME_TAG])
    return obj


def _folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
