"""The record of what was tried and what holds: attempts, `pass_runs`, and the Run row's status.

The record is sacred: an attempt that fails (bad input, a missing map, Ctrl-C, an outage)
is written down in `attempts` (started, how it ended, why) and leaves every earlier finished
result as it was. So:

- a pass's row of a run that is `done` or `partial` keeps that status when a later attempt
  of the same pass fails (`keep_finished_pass_run`): its rows are still the finished ones;
- the Run row's `reco_status`, `reco_events`, `reco_backend` and `partial` report the run's
  best finished pass (`done` before `partial`, then the newest), named in `reco_pass`
  (`settle_run`); a run no pass has finished reports its latest attempt (running / failed);
- a pass is `failed` when one of its runs has no finished result, else `finished`
  (`finish_pass`), whatever became of single attempts.

These are operations queued in a SqlSink batch under the names in `OPERATIONS` (so that they
run in the batch's transaction, after the rows queued before them, and travel through the
online analyzer's spool like any other record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema, sql_ops
from .passes import FINISHED_RUN_STATUSES, best_finished

SETTLE_RUN = "op:settle_run"
KEEP_FINISHED_PASS_RUN = "op:keep_finished_pass_run"
FINISH_PASS = "op:finish_pass"
REOPEN_PASS = "op:reopen_pass"


def settle_run(conn: Connection, record: Mapping[str, Any]) -> None:
    """{"run", "fallback_status", "fallback_events", "updated_at"}: the Run row reports the
    run's best finished pass, else the fallback (the latest attempt's status)."""
    runs = schema.runs
    run = int(record["run"])
    best = best_finished(conn, run)
    if best is not None:
        values = {"reco_status": best["status"], "reco_events": best["reco_events"],
                  "reco_backend": best["backend"], "reco_pass": best["pass_name"],
                  "partial": best["status"] == "partial"}
    else:
        values = {"reco_status": record["fallback_status"], "reco_pass": None}
        if record.get("fallback_events") is not None:
            values["reco_events"] = int(record["fallback_events"])
    values["updated_at"] = record.get("updated_at")
    sql_ops.upsert(conn, runs, [{"run": run, **values}])


def keep_finished_pass_run(conn: Connection, record: Mapping[str, Any]) -> None:
    """Upsert a `pass_runs` row unless the existing one is finished (done/partial): a later
    attempt that did not finish leaves it as it was."""
    table = schema.pass_runs
    where = sa.and_(table.c.pass_name == sa.bindparam("p", str(record["pass_name"])),
                    table.c.run == sa.bindparam("r", int(record["run"])))
    status = conn.execute(sa.select(table.c.status).where(where)).scalar()
    if status in FINISHED_RUN_STATUSES:
        return
    sql_ops.upsert(conn, table, [dict(record)])


def finish_pass(conn: Connection, record: Mapping[str, Any]) -> None:
    """{"pass_name", "finished_at"}: the pass is `failed` if a run of it has no finished
    result (status failed), else `finished`."""
    name = str(record["pass_name"])
    runs = schema.pass_runs
    failed = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
        runs.c.pass_name == sa.bindparam("p", name), runs.c.status == "failed")).scalar()
    table = schema.passes
    conn.execute(sa.update(table).where(table.c.pass_name == sa.bindparam("q", name)).values(
        status="failed" if failed else "finished", finished_at=record.get("finished_at"),
        updated_at=record.get("finished_at")))


def reopen_pass(conn: Connection, record: Mapping[str, Any]) -> None:
    """{"pass_name", "updated_at"}: the pass is `unfinished` again (its rows of a run are
    being replaced as they come, as the online analyzer does)."""
    table = schema.passes
    conn.execute(sa.update(table).where(
        table.c.pass_name == sa.bindparam("q", str(record["pass_name"]))).values(
        status="unfinished", finished_at=None, updated_at=record.get("updated_at")))


OPERATIONS: dict[str, Callable[[Connection, Mapping[str, Any]], None]] = {
    SETTLE_RUN: settle_run,
    KEEP_FINISHED_PASS_RUN: keep_finished_pass_run,
    FINISH_PASS: finish_pass,
    REOPEN_PASS: reopen_pass,
}
