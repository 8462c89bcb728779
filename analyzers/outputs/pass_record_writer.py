"""`PassRecordWriter`: the part of `SqlSink` that keeps the record of processing passes,
attempts and the Run row's status.

Apart from the row writing because the record follows its own rules (see run_record.py: a
failed attempt never degrades a finished result); most entries are queued as operations of
the next batch, so that they commit with the rows they describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine

from . import database, passes, run_record
from .database import RetryPolicy
from .errors import DatabaseAuthError, DatabaseUnavailableError, OutputError


class PassRecordWriter:
    """Pass, attempt and run-status records of one writer's pass (mixed into SqlSink, which
    provides the engine, the retry policy, the buffer and `flush`)."""

    pass_name: str
    retry: RetryPolicy
    engine: Engine

    def flush(self) -> int:
        raise NotImplementedError

    def _queue_records(self, table: str, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def set_pass(self, pass_name: str) -> None:
        """Write the following rows into another pass (what is buffered is flushed first)."""
        name = passes.check_pass_name(pass_name)
        if name != self.pass_name:
            self.flush()
            self.pass_name = name

    def register_pass(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Record the start of this writer's pass now (columns of `passes`; `pass_name` is
        the writer's). Raises `passes.PassConflictError` when the name exists with other
        parameters. Returns the pass row."""
        record = {**record, "pass_name": self.pass_name}
        engine = self.engine
        try:
            return database.run_with_retry(engine, lambda c: passes.register(c, record),
                                           self.retry, "register pass")
        except (DatabaseUnavailableError, DatabaseAuthError):
            raise
        except OutputError:  # e.g. a duplicate key: another process registered it meanwhile
            return database.run_with_retry(engine, lambda c: passes.register(c, record),
                                           self.retry, "register pass")

    def update_pass_run(self, run: int, **fields: Any) -> None:
        """Set columns of this pass's `pass_runs` row of `run` (status, backend, ...)."""
        self._queue_records("pass_runs", [{"pass_name": self.pass_name, "run": int(run),
                                           **fields}])

    def finish_pass(self) -> None:
        """Mark this writer's pass finished, or failed when one of its runs has no finished
        result (decided in SQL, at the next flush: see run_record.finish_pass)."""
        self._queue_records(run_record.FINISH_PASS, [{
            "pass_name": self.pass_name, "finished_at": passes.utc_now()}])

    def close_dead_attempts(self, host: str) -> list[int]:
        """See run_record.close_dead_attempts (done at once); the runs settled."""
        now = passes.utc_now()
        return database.run_with_retry(
            self.engine, lambda conn: run_record.close_dead_attempts(conn, host, now),
            self.retry, "close dead attempts")

    def record_attempt(self, attempt: str, run: int, **fields: Any) -> None:
        """Upsert this pass's `attempts` row `attempt` of `run` (status, reason, times)."""
        self._queue_records("attempts", [{"attempt": attempt, "pass_name": self.pass_name,
                                          "run": int(run), **fields}])

    def keep_finished_pass_run(self, run: int, **fields: Any) -> None:
        """Set this pass's `pass_runs` row of `run`, unless it is finished (done/partial)."""
        self._queue_records(run_record.KEEP_FINISHED_PASS_RUN, [{
            "pass_name": self.pass_name, "run": int(run), **fields}])

    def settle_run(self, run: int, fallback_status: str,
                   fallback_events: int | None = None) -> None:
        """The Run row reports the run's best finished pass, else `fallback_status`."""
        self._queue_records(run_record.SETTLE_RUN, [{
            "run": int(run), "fallback_status": fallback_status,
            "fallback_events": fallback_events, "updated_at": passes.utc_now()}])

    def reopen_pass(self, run: int) -> None:
        """The pass's `pass_runs` row of `run` says `running` again, and so does the pass."""
        now = passes.utc_now()
        self.update_pass_run(run, status="running", started_at=now, finished_at=None)
        self._queue_records(run_record.REOPEN_PASS, [{"pass_name": self.pass_name,
                                                      "updated_at": now}])
