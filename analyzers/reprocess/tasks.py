"""What a Dask worker does with one run: the replay's own session, kept per worker process.

The `ReplaySession` (its SQL/InfluxDB/S3 sinks, reconstruction engine and pedestal maps,
found once and cached) lives as long as the worker: each worker loads a pedestal map once
for all the runs it is given. A run made of chunks is assembled into one local run file
first (the first chunk's begin-of-run ODB, every chunk's events in order, the last one's
end-of-run ODB); a chunk that cannot be read, or a chunk number missing from the `chunks`
table, is named with its reason and the run is processed without it, as `partial`. Without
the begin-of-run ODB dump (the run's first chunk, or the first after an uploader restart)
the run's settings are unknown (a pedestal run would pass for physics): the run fails.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.replay.session import ReplayOptions, ReplaySession

from .inputs import WorkItem

_sessions: dict[tuple, ReplaySession] = {}


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """What every task of a campaign shares (picklable: it travels to the workers)."""

    pass_name: str
    output_dir: str | None = None
    overrides: tuple[str, ...] = ()
    config_file: str | None = None
    database_url: str | None = None  # --db: over the configured one

    def key(self) -> tuple:
        return dataclasses.astuple(self)


def session_for(options: TaskOptions) -> ReplaySession:
    """This worker process's session for `options` (made once)."""
    key = options.key()
    if key not in _sessions:
        _sessions[key] = ReplaySession(ReplayOptions(
            config_file=Path(options.config_file) if options.config_file else None,
            overrides=options.overrides,
            output_dir=Path(options.output_dir) if options.output_dir else None,
            pass_name=options.pass_name, db_wait_s=30.0, database_url=options.database_url,
            messages=lambda text: None))
    return _sessions[key]


def close_sessions() -> int:
    """At the campaign's end (on every worker): finish the pass, close the sinks."""
    closed = 0
    while _sessions:
        _, session = _sessions.popitem()
        session.close()
        closed += 1
    return closed


def process(item: WorkItem, options: TaskOptions) -> dict[str, Any]:
    """Replay one run; its summary as plain values (what the campaign's report shows)."""
    session = session_for(options)
    problems: list[str] = []
    scratch = None
    try:
        if item.chunks:
            scratch = Path(tempfile.mkdtemp(prefix="cygno-reprocess-"))
            problems += [f"chunk {n} missing from the chunks table"
                         for n in item.extra.get("missing", ())]
            path = assemble(item, session, scratch, problems)
        else:
            path = Path(item.sources[0]) if not item.sources[0].startswith("s3://") else None
        summary = session.replay(str(path) if path is not None else item.sources[0],
                                 input_problem="; ".join(problems) or None)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"label": item.label, "run": summary.run, "status": summary.reco_status,
            "images": summary.reconstructed, "clusters": summary.clusters,
            "partial": summary.partial, "problem": summary.problem,
            "skipped_chunks": problems, "worker_pid": os.getpid()}


def assemble(item: WorkItem, session: ReplaySession, scratch: Path,
             problems: list[str]) -> Path:
    """The run's chunks as one local run file (unreadable chunks reported in `problems`).
    The file's begin-of-run dump is the first full one; events of chunks read before it
    wait for it. None at all: RuntimeError naming the chunks and why."""
    from cygno_mw.analyzers.uploader.chunker import is_stub_odb
    from cygno_mw.midasfile import MidasWriter, open_midas

    run = item.run if item.run is not None else 0
    target = scratch / f"run{run:05d}.mid.lz4"
    writer: MidasWriter | None = None
    eor: dict[str, Any] | None = None
    waiting: list[Any] = []  # events read before the begin-of-run dump was found
    try:
        for source in item.sources:
            try:
                local = session.local_path(source)
                with open_midas(local) as chunk:
                    events = list(chunk.events())  # whole chunk first: all of it or none
                    bor = chunk.bor_odb or {}
                    eor = chunk.eor_odb or eor
                    damage = [str(s) for s in chunk.skipped]
                    if not chunk.complete:
                        damage.append("no end-of-run dump (cut short)")
            except Exception as exc:
                problems.append(f"{_name(source)}: unreadable, left out: {_first_line(exc)}")
                continue
            if damage:  # its readable events are kept
                problems.append(f"{_name(source)}: damaged: {'; '.join(damage)}")
            waiting += events
            if writer is None and is_stub_odb(bor):
                continue
            if writer is None:
                writer = MidasWriter(target, run, bor, compression="lz4")
            for event in waiting:
                writer.write(event.event_id, list(event.banks.values()),
                             serial_number=event.serial_number, timestamp=event.timestamp,
                             trigger_mask=event.header.trigger_mask)
            waiting = []
        if writer is None:
            raise RuntimeError(f"run {run}: no chunk with the begin-of-run ODB dump could be "
                               f"read, so the run's settings are unknown; not processed "
                               f"({'; '.join(problems) or 'none recorded'})")
        if eor:
            writer.odb = eor
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return target


def _name(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
