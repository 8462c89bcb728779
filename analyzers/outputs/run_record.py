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

import os
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


def close_dead_attempts(conn: Connection, host: str, now: Any) -> list[int]:
    """Attempts left `running` on `host` by a process that no longer exists (killed, or a
    machine that lost power) become `interrupted`; their pass's row of the run, if still
    `running`, becomes `failed`, and their runs' status is settled. Returns those runs."""
    table = schema.attempts
    rows = conn.execute(sa.select(table.c.attempt, table.c.pass_name, table.c.run,
                                  table.c.pid).where(
        table.c.status == "running", table.c.host == sa.bindparam("h", host))).all()
    runs, names = [], set()
    for attempt, pass_name, run, pid in rows:
        if pid is None or _alive(int(pid)):
            continue
        conn.execute(sa.update(table).where(table.c.attempt == sa.bindparam("a", attempt))
                     .values(status="interrupted", finished_at=now,
                             reason=f"process {pid} on {host} ended without finishing "
                                    "(killed, or the machine stopped)"))
        pass_runs = schema.pass_runs
        conn.execute(sa.update(pass_runs).where(
            pass_runs.c.pass_name == sa.bindparam("p", pass_name),
            pass_runs.c.run == sa.bindparam("r", int(run)),
            pass_runs.c.status == "running").values(status="failed", finished_at=now))
        runs.append(int(run))
        names.add(str(pass_name))
    for run in sorted(set(runs)):
        settle_run(conn, {"run": run, "fallback_status": "failed", "updated_at": now})
    passes = schema.passes
    for name in sorted(names):  # a finished pass with a run left without result: failed
        status = conn.execute(sa.select(passes.c.status).where(
            passes.c.pass_name == sa.bindparam("p", name))).scalar()
        if status == "finished":
            finish_pass(conn, {"pass_name": name, "finished_at": now})
    return sorted(set(runs))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


OPERATIONS: dict[str, Callable[[Connection, Mapping[str, Any]], None]] = {
    SETTLE_RUN: settle_run,
    KEEP_FINISHED_PASS_RUN: keep_finished_pass_run,
    FINISH_PASS: finish_pass,
    REOPEN_PASS: reopen_pass,
}
