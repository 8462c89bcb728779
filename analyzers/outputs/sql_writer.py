"""`SqlSink`: batched, transactional, idempotent writes of reconstruction results to SQL.

Idempotent by construction: each batch, in one transaction, first deletes the rows of every
(run, camera, event) it carries, then inserts them; `begin_run` also wipes a run (one camera)
before its first batch, for re-processing. A transaction that fails on a lost connection is
retried whole, so a server dropping mid-batch never leaves a row twice. Connecting is lazy and
retried with bounded backoff; the schema is created/upgraded on first connection.

Every `reco` and `macro` row belongs to the writer's processing pass (`pass_name`, default
`replay`): deletes and re-writes touch only that pass, so other passes of the same runs stay
as they are. `register_pass` records what made the pass (and refuses a name already used
with other parameters); each run written gets a `pass_runs` row (that record keeping is in
pass_record_writer.py).

The reconstruction's per-image output goes in as is: `clusters` (dict of NumPy arrays, one per
cluster variable) and `image` (cmos_integral, cmos_mean, cmos_rms, nclusters, ...); whole
columns are converted at flush time, never row by row in Python (event_columns.py).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time as time_module
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Connection, Engine

from . import credentials, database, migrate, passes, run_record, schema, sql_ops
from .batch import Batch, Columns, to_utc_naive
from .database import RetryPolicy
from .errors import OutputError
from .event_columns import PendingEvent, covered, event_columns, pending_event
from .mysql_bulk import LocalInfileRefused, MySqlBulkLoader, is_mysql, make_private_dir
from .pass_record_writer import PassRecordWriter

log = logging.getLogger(__name__)

# Run-row columns that several processes sharing a run add to (see SqlSink.add_run_counts)
RUN_COUNTS = ("reco_events", "number_of_events")


class SqlSink(PassRecordWriter):
    """Buffered writer of results to the SQL tables (see module docstring); the record of
    passes, attempts and run status is kept by `PassRecordWriter`."""

    def __init__(self, url: str | URL | None = None, *, batch_rows: int = 50_000,
                 retry: RetryPolicy | None = None, connect_retry: RetryPolicy | None = None,
                 migrate_schema: bool = True, bulk_load: bool = True,
                 flush_after_s: float | None = None,
                 pass_name: str = passes.DEFAULT_REPLAY_PASS) -> None:
        self.url = database.parse_url(url or database.default_url())
        self.pass_name = passes.check_pass_name(pass_name)
        self.batch_rows = batch_rows
        self.flush_after_s = flush_after_s  # online use: data no older than this in memory
        self.retry = retry or RetryPolicy()
        self.connect_retry = connect_retry or self.retry
        self.migrate_schema = migrate_schema
        self._bulk_wanted = bulk_load and is_mysql(self.url.get_backend_name())
        self._bulk_dir: Path | None = None  # made on first connection (MySQL only)
        self._bulk: MySqlBulkLoader | None = None
        self._engine: Engine | None = None
        self._lock = threading.RLock()
        self._events: dict[tuple[int, int, int], PendingEvent] = {}
        self._pending_clusters = 0
        self._pending_since: float | None = None
        self._replace: list[tuple[int, int | None]] = []
        self._records: list[tuple[str, list[dict[str, Any]]]] = []
        self._add_counts: list[tuple[int, dict[str, int]]] = []
        self.rows_written = 0

    # -- connection ---------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The SQLAlchemy Engine, connected and migrated (retried with backoff)."""
        if self._engine is None:
            self._engine = self.connect()
        return self._engine

    def connect(self) -> Engine:
        if self._bulk_wanted and self._bulk_dir is None:
            self._bulk_dir = make_private_dir()
        engine = database.create_db_engine(
            self.url, local_infile_dir=self._bulk_dir,
            timeout_s=min(self.retry.attempt_timeout_s, self.connect_retry.attempt_timeout_s))
        try:
            database.check_connection(engine, self.connect_retry)
            if self.migrate_schema:
                migrate.upgrade(engine)
        except exc.DBAPIError as err:
            engine.dispose()
            raise database.translate(err, self.url) from None
        except Exception:
            engine.dispose()
            raise
        if self._bulk_dir is not None:
            self._bulk = MySqlBulkLoader(self._bulk_dir)
        log.info("writing results to %s", credentials.safe_url(self.url))
        return engine

    # -- buffering ----------------------------------------------------------------------------
    def write_event(self, run: int, event: int, camera: int, result: Any, *,
                    time: Any = None, backend: str | None = None,
                    pedestal_mean: float | None = None, pedestal_rms: float | None = None,
                    noise_mean: float | None = None) -> None:
        """Queue one image's clusters (`reco`) and summary (`macro`); flushes when the buffer
        holds `batch_rows` rows. `result` has `clusters` and `image` (mapping or attributes),
        optionally `timings` (seconds per step; 'total' or their sum is the processing time).
        Writing the same (run, camera, event) again replaces it."""
        pending = pending_event(result, time=time, backend=backend,
                                pedestal_mean=pedestal_mean, pedestal_rms=pedestal_rms,
                                noise_mean=noise_mean)
        n = pending.clusters.shape[1]
        key = (int(run), int(camera), int(event))
        with self._lock:
            old = self._events.pop(key, None)
            if old is not None:
                self._pending_clusters -= old.clusters.shape[1]
            self._events[key] = pending
            self._pending_clusters += n
            full = self._due()
        if full:
            self.flush()

    def write_pmt(self, run: int, event: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue one event's PMT rows (`pmt` table: per board, trigger, channel and peak; see
        analyzers/waveform_analysis.py). Writing the same key again replaces it."""
        records = [{**row, "pass_name": self.pass_name, "run": int(run), "event": int(event)}
                   for row in rows]
        self._queue_records("pmt", records)

    def begin_run(self, run: int, camera: int | None = None, *,
                  mark_running: bool = True) -> None:
        """Re-processing: the run's existing reco/macro rows of this pass (this camera, or
        all) are deleted in the same transaction as the next batch, and (`mark_running`)
        the pass's `pass_runs` row of the run says `running` again."""
        with self._lock:
            self._replace.append((int(run), None if camera is None else int(camera)))
        if mark_running:
            self.reopen_pass(run)

    def write_slow_control(self, samples: Iterable[Mapping[str, Any]]) -> None:
        """Queue slow-control samples: mappings with time, equipment, variable, value and
        optionally run (none: 0, outside any run). A sample with the same (variable,
        equipment, time, run) replaces the old; other runs' samples are never touched."""
        records = []
        for sample in samples:
            value = sample.get("value")
            records.append({
                "variable": str(sample["variable"]), "equipment": str(sample["equipment"]),
                "time": to_utc_naive(sample["time"]),
                "run": 0 if sample.get("run") is None else int(sample["run"]),
                "value": None if value is None else float(value),
            })
        self._queue_records("slow_control", records)

    def write_now(self, table: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Upsert `records` into `table` at once, in their own transaction (retried), apart
        from what is buffered: e.g. a Run row that must say 'running' before any result."""
        rows = [dict(r) for r in records]
        if rows:
            database.run_with_retry(
                self.engine, lambda conn: sql_ops.upsert(conn, schema.TABLES[table], rows),
                self.retry, f"write {table}")
            self.rows_written += len(rows)

    def discard_run(self, run: int) -> None:
        """Forget the buffered images (and PMT rows) of `run` and its pending replacement:
        after a failed pass the rows of the previous pass stay as they were."""
        with self._lock:
            for key in [k for k in self._events if k[0] == int(run)]:
                self._pending_clusters -= self._events.pop(key).clusters.shape[1]
            self._replace = [(r, c) for r, c in self._replace if r != int(run)]
            kept = []
            for name, records in self._records:
                if name == "pmt":
                    records = [r for r in records if int(r["run"]) != int(run)]
                if records:
                    kept.append((name, records))
            self._records = kept

    def write_runs(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Queue rows of `runs` (column names as in the schema); existing runs are updated in
        the columns given."""
        self._queue_records("runs", [dict(r) for r in records])

    def update_run(self, run: int, **fields: Any) -> None:
        """Set some columns of one run (created if missing), e.g. reco_status='done'."""
        fields = {"run": int(run), **fields, "updated_at": passes.utc_now()}
        self._queue_records("runs", [fields])

    def add_run_counts(self, run: int, **counts: int) -> None:
        """Add to a run's counters SQL-side (`reco_events`, `number_of_events`), in the next
        batch's transaction: `SET reco_events = COALESCE(reco_events, 0) + n` with bound
        parameters; a missing Run row is created with these counts.  For processes sharing
        a run: whoever writes the Run row resets the counters to 0 at begin-of-run, then
        each process adds its own at end-of-run (an add is not idempotent: replaying a run
        adds again unless the Run row was reset)."""
        unknown = sorted(set(counts) - set(RUN_COUNTS))
        if unknown:
            raise OutputError(f"cannot add to runs columns {unknown}; known: {list(RUN_COUNTS)}")
        values = {name: int(n) for name, n in counts.items() if n is not None}
        if not values:
            return
        with self._lock:
            self._add_counts.append((int(run), values))
            full = self._due()
        if full:
            self.flush()

    def write_pedestal(self, run: int, camera: int, *, map_location: str,
                       **stats: Any) -> None:
        """Queue one pedestal map's summary (see schema.PEDESTAL_STATS) and where it lives."""
        self._queue_records("pedestals", [self.pedestal_record(
            run, camera, map_location=map_location, **stats)])

    @staticmethod
    def pedestal_record(run: int, camera: int, *, map_location: str,
                        **stats: Any) -> dict[str, Any]:
        """The `pedestals` row of one map (statistics checked against the schema)."""
        unknown = sorted(set(stats) - set(schema.PEDESTAL_STATS))
        if unknown:
            raise OutputError(f"unknown pedestal statistics {unknown}; "
                              f"known: {list(schema.PEDESTAL_STATS)}")
        return {"run": int(run), "camera": int(camera), "map_location": str(map_location),
                "created_at": passes.utc_now(), **stats}

    def _queue_records(self, table: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with self._lock:
            self._records.append((table, records))
            full = self._due()
        if full:
            self.flush()

    def _due(self) -> bool:
        """Flush now? (buffer full, or its oldest row older than `flush_after_s`)."""
        now = time_module.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if self.pending_rows >= self.batch_rows:
            return True
        return self.flush_after_s is not None and now - self._pending_since >= self.flush_after_s

    @property
    def pending_rows(self) -> int:
        """Rows waiting for the next flush."""
        return (self._pending_clusters + len(self._events) + len(self._add_counts)
                + sum(len(r) for _, r in self._records))

    # -- writing ------------------------------------------------------------------------------
    def take_batch(self) -> Batch:
        """Detach everything buffered as one Batch (the buffer starts empty again)."""
        with self._lock:
            events, self._events = self._events, {}
            replace, self._replace = self._replace, []
            records, self._records = self._records, []
            add_counts, self._add_counts = self._add_counts, []
            self._pending_clusters = 0
            self._pending_since = None
        batch = Batch(replace_runs=replace, records=records, add_counts=add_counts,
                      pass_name=self.pass_name)
        if events:
            batch.events = event_columns(list(events), list(events.values()))
        return batch

    def write_batch(self, batch: Batch) -> int:
        """Write a batch in one transaction, retried whole on a lost connection; returns rows."""
        if batch.is_empty():
            return 0
        engine = self.engine
        database.run_with_retry(engine, lambda conn: self._apply(conn, batch), self.retry,
                                "write batch")
        self.rows_written += batch.n_rows
        return batch.n_rows

    def flush(self) -> int:
        """Write everything buffered now; returns the number of rows written."""
        return self.write_batch(self.take_batch())

    def _apply(self, conn: Connection, batch: Batch) -> None:
        pass_name = batch.pass_name or self.pass_name
        for run, camera in batch.replace_runs:
            for table in (schema.reco, schema.macro):
                sql_ops.delete_run(conn, table, run, camera, pass_name)
            if camera is None or camera == 0:  # PMT rows go with camera 0's process
                sql_ops.delete_run(conn, schema.pmt, run, None, pass_name)
        for name, records in batch.records:
            operation = run_record.OPERATIONS.get(name)
            if operation is None:
                sql_ops.upsert(conn, schema.TABLES[name], records)
                continue
            for record in records:
                operation(conn, record)
        for run, counts in batch.add_counts:
            _add_run_counts(conn, run, counts)
        macro = batch.events.get("macro")
        if macro:
            runs, cameras, events = macro["run"], macro["camera"], macro["event"]
            keep = ~covered(runs, cameras, batch.replace_runs)
            for table in (schema.reco, schema.macro):
                sql_ops.delete_events(conn, table, runs[keep], cameras[keep], events[keep],
                                      pass_name)
            self._insert(conn, schema.macro, macro, pass_name)
            self._insert(conn, schema.reco, batch.events["reco"], pass_name)
            now = passes.utc_now()
            sql_ops.insert_missing(conn, schema.pass_runs, [
                {"pass_name": pass_name, "run": run, "status": "running", "started_at": now}
                for run in np.unique(runs).tolist()])

    def _insert(self, conn: Connection, table: Any, columns: Columns, pass_name: str) -> None:
        order = tuple(c.name for c in table.columns if c.name != "pass_name")
        if conn.dialect.name == "sqlite" and self._bulk is None and \
                sql_ops.sqlite_multirow_insert(conn, table, columns, order,
                                               {"pass_name": pass_name}):
            return
        n = len(next(iter(columns.values()))) if columns else 0
        columns = {"pass_name": np.full(n, pass_name, dtype=object), **columns}
        order = ("pass_name", *order)
        if self._bulk is not None:
            try:
                self._bulk.insert(conn, table, columns, order)
                return
            except LocalInfileRefused as refused:
                log.info("server refuses LOAD DATA LOCAL INFILE (%s); using executemany",
                         refused)
                self._bulk = None
        sql_ops.executemany_insert(conn, table, columns, order)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is buffered and release the connections."""
        try:
            self.flush()
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            if self._bulk_dir is not None:
                shutil.rmtree(self._bulk_dir, ignore_errors=True)
                self._bulk_dir = None
                self._bulk = None

    def __enter__(self) -> SqlSink:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:  # keep the original error; still release resources
            try:
                self.close()
            except Exception as close_error:
                log.error("while closing after an error: %s", close_error)


def _add_run_counts(conn: Connection, run: int, counts: Mapping[str, int]) -> None:
    """UPDATE runs SET col = COALESCE(col, 0) + :n ... WHERE run = :run (or insert it)."""
    runs = schema.runs
    now = passes.utc_now()
    values: dict[Any, Any] = {runs.c[name]: sa.func.coalesce(runs.c[name], 0)
                              + sa.bindparam(f"add_{name}", int(n), type_=sa.Integer)
                              for name, n in counts.items()}
    values[runs.c.updated_at] = sa.bindparam("now", now, type_=runs.c.updated_at.type)
    where = runs.c.run == sa.bindparam("the_run", int(run))
    if conn.execute(sa.select(runs.c.run).where(where)).first() is None:
        sql_ops.upsert(conn, runs, [{"run": int(run), **counts, "updated_at": now}])
    else:  # (not rowcount: MySQL counts only rows whose values changed)
        conn.execute(sa.update(runs).where(where).values(values))
