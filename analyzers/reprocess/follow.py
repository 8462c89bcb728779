"""Quasi-online: watch the `chunks` table and process each run once its chunks are all there.

A run is taken when its last chunk (closed at the run's end) is recorded with no sequence
number missing before it, and the pass has no finished row for it yet (`pass_runs`), so a
restarted follower does not redo finished runs. Results belong to the run exactly as the
online analyzer's do: the run number is the one in the chunks' begin-of-run dump.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .campaign import CampaignReport, run_campaign
from .inputs import chunk_items
from .tasks import TaskOptions, close_sessions


def done_runs(engine: sa.engine.Engine, pass_name: str) -> set[int]:
    from cygno_mw.analyzers.outputs import schema

    table = schema.pass_runs
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("pass_runs"):
            return set()
        rows = conn.execute(sa.select(table.c.run).where(table.c.pass_name == pass_name,
                                                         table.c.status == "done"))
        return {int(r[0]) for r in rows}


def follow(client: Any, engine: sa.engine.Engine, options: TaskOptions, *,
           poll_s: float = 2.0, stop_after_s: float | None = None,
           on_report: Callable[[CampaignReport], None] | None = None) -> CampaignReport:
    """Process new complete runs as they appear, until interrupted (or `stop_after_s`)."""
    total = CampaignReport()
    taken: set[int] = set()
    started = time.monotonic()
    while stop_after_s is None or time.monotonic() - started < stop_after_s:
        try:
            items = chunk_items(engine)
        except sa.exc.OperationalError:  # no chunks table yet, or the database is away
            items = []
        skip = taken | done_runs(engine, options.pass_name) if items else taken
        new = [i for i in items if i.run not in skip]
        if new:
            report = run_campaign(client, new, options, close=False)
            taken.update(i.run for i in new if i.run is not None)
            total.results += report.results
            total.failures += report.failures
            if on_report is not None:
                on_report(report)
        else:
            time.sleep(poll_s)
    client.run(close_sessions)
    total.wall_s = time.monotonic() - started
    return total
