"""`PassAttempts`: which processing pass a `ResultSinks` writes to, and the record of this
process's attempts at each run.

Apart from the sinks because it is record keeping, not result writing: a pass is registered
once per name and parameters, and every attempt (who, where, which revision, how it ended)
is written down whatever became of the results (see analyzers/outputs/run_record.py).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from cygno_mw.analyzers.outputs.passes import utc_now
from cygno_mw.analyzers.parameters import AnalyzerParameters


class PassAttempts:
    """The pass and attempt half of ResultSinks (which provides `sql`, `writes_run_row` and
    `shares_run`)."""

    sql: Any  # the SqlSink (or SpoolingSqlSink) the records go through
    writes_run_row: bool
    shares_run: bool
    pass_row: dict[str, Any] | None = None  # the registered pass (use_pass)
    _registered: tuple[str, str] | None = None  # (name, parameters hash)
    _attempt: str | None = None  # this process's attempts row of the open run

    @property
    def pass_name(self) -> str:
        return self.sql.pass_name

    def use_pass(self, name: str, params: AnalyzerParameters, backend: str | None) -> str:
        """Results from now on go to pass `name`, registered with these parameters (once per
        name and parameters). Raises PassConflictError when `name` exists with other
        parameters; see `OnlineSinks` for the online analyzer's way out."""
        from cygno_mw.analyzers.provenance import pass_record

        record = pass_record(params, backend)
        key = (name, str(record["parameters_hash"]))
        if key == self._registered:
            self.sql.set_pass(name)
            return name
        if self._registered is not None and self._registered[0] != name:
            self.finish_pass()  # this process leaves its previous pass (online: a new name)
            self._registered = None
        previous = self.sql.pass_name
        self.sql.set_pass(name)
        try:
            self.pass_row = self.sql.register_pass(record)
        except BaseException:
            self.sql.set_pass(previous)  # nothing was buffered for the refused pass
            raise
        self._registered = key
        return name

    def finish_pass(self) -> None:
        """Mark the pass finished (failed if a run of it has no finished result), when this
        process is done."""
        if self._registered is not None:
            self.sql.finish_pass()
            self.sql.flush()

    @property
    def settles_run_row(self) -> bool:
        """The Run row's status is this process's to settle (it alone writes the row)."""
        return self.writes_run_row and not self.shares_run

    def _record_attempt(self, run: int, status: str, reason: str | None = None,
                        *, start: bool = False) -> None:
        if not self.writes_run_row:
            return
        from cygno_mw.analyzers.provenance import source_revision

        now = utc_now()
        if start or self._attempt is None:
            self._attempt = uuid.uuid4().hex
            fields: dict[str, Any] = {"started_at": now, "host": socket.gethostname(),
                                      "pid": os.getpid(), "revision": source_revision()}
        else:
            fields = {}
        if status != "running":
            fields["finished_at"] = now
        if reason is not None:  # (a second report of the same failure keeps the first why)
            fields["reason"] = str(reason)[:4000]
        self.sql.record_attempt(self._attempt, run, status=status, **fields)

    def _pass_run(self, run: int, **fields: Any) -> None:
        from cygno_mw.analyzers.provenance import source_revision

        self.sql.update_pass_run(run, host=socket.gethostname(), revision=source_revision(),
                                 **fields)
