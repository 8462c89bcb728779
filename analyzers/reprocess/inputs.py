"""What a campaign processes: work items from run numbers, s3:// prefixes or files.

One item is one run: a run file (local or `s3://`), or the chunk files the uploader wrote
for the run (from the `chunks` table, in sequence order). A run is never split over tasks:
the replay replaces a run's rows in its pass at the run's end, so one task per run makes
a retried task idempotent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cygno_mw.errors import UsageError

_RUNS = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_RUN_IN_NAME = re.compile(r"run(\d+)")


@dataclass(frozen=True)
class WorkItem:
    """One run's worth of input: a file, or its chunks (in order)."""

    label: str
    sources: tuple[str, ...]
    run: int | None = None
    chunks: bool = False
    pedestal: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def parse_runs(text: str) -> list[int]:
    """'10-12,15' -> [10, 11, 12, 15]."""
    runs: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        runs.extend(range(int(first), int(last or first) + 1))
    return runs


def is_run_list(text: str) -> bool:
    return bool(_RUNS.match(text))


def chunk_items(engine: sa.engine.Engine, runs: list[int] | None = None,
                complete_only: bool = True) -> list[WorkItem]:
    """The runs of the `chunks` table (all, or `runs`) as items; with `complete_only`, only
    runs whose last chunk is recorded. The uploader records a run's chunks strictly in
    order, so a number missing before the recorded last chunk never comes: it is a gap,
    listed in the item's `extra["missing"]` (the run is processed, and partial)."""
    from cygno_mw.analyzers.outputs import schema

    table = schema.chunks
    query = sa.select(table.c.run, table.c.sequence, table.c.s3_key, table.c.last_chunk)
    if runs is not None:
        query = query.where(table.c.run.in_(runs))
    by_run: dict[int, list[tuple[int, str, bool]]] = {}
    with engine.connect() as conn:
        for run, sequence, key, last in conn.execute(query.order_by(table.c.run,
                                                                    table.c.sequence)):
            by_run.setdefault(int(run), []).append((int(sequence), str(key), bool(last)))
    items = []
    for run, rows in sorted(by_run.items()):
        lasts = [s for s, _, last in rows if last]
        if complete_only and not lasts:
            continue
        end = lasts[0] if lasts else rows[-1][0]
        missing = sorted(set(range(end + 1)) - {s for s, _, _ in rows})
        items.append(WorkItem(f"run {run} ({len(rows)} chunks)",
                              tuple(key for _, key, _ in rows), run=run, chunks=True,
                              extra={"missing": missing} if missing else {}))
    return items


def s3_items(url: str, endpoint_url: str | None = None) -> list[WorkItem]:
    """Run files under an s3:// prefix; chunk files (`.../chunks/runNNNNN_SSSSS.mid.lz4`)
    are grouped by run."""
    import boto3

    bucket, _, prefix = url[len("s3://"):].partition("/")
    client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    files, chunks = [], {}
    for key in sorted(keys):
        name = key.rsplit("/", 1)[-1]
        if not re.search(r"\.mid(\.gz|\.lz4|\.bz2)?$", name):
            continue
        match = _RUN_IN_NAME.search(name)
        run = int(match.group(1)) if match else None
        if "/chunks/" in key and run is not None:
            chunks.setdefault(run, []).append(f"s3://{bucket}/{key}")
        else:
            files.append(WorkItem(name, (f"s3://{bucket}/{key}",), run=run))
    return files + [WorkItem(f"run {run} ({len(urls)} chunks)", tuple(urls), run=run,
                             chunks=True) for run, urls in sorted(chunks.items())]


def file_item(path: str) -> WorkItem:
    local = Path(path)
    if not local.is_file():
        raise UsageError(f"{path}: no such file")
    match = _RUN_IN_NAME.search(local.name)
    return WorkItem(local.name, (str(local.resolve()),),
                    run=int(match.group(1)) if match else None,
                    pedestal=_is_pedestal_file(local))


def _is_pedestal_file(path: Path) -> bool:
    """Pedestal runs go first (the others look their maps up); unreadable: not one."""
    from cygno_mw.analyzers.run_info import is_pedestal_run
    from cygno_mw.midasfile import open_midas

    try:
        with open_midas(path) as midas:
            return bool(is_pedestal_run(midas.bor_odb))
    except Exception:
        return False
