"""Events -> chunk files: MIDAS format, LZ4, closed by size or by age.

An open chunk is a journal: the raw events appended to `<spool>/open/<name>.journal` with one
write each (a killed process leaves in the kernel everything it wrote). An event that opens a
new chunk is written to its journal before anything that can block (the metadata's and the
sequence number's fsyncs), so an event taken from the buffer is on disk before the next slow
step. Closing a chunk turns the journal into `<name>.mid.lz4` (begin-of-run ODB dump, the
events, end-of-run dump: every chunk is a complete MIDAS file), fsyncs it and hands it to the
spool with its manifest; only then is the journal deleted. `recover()` after a crash closes
every journal left behind, with or without its metadata (the name says run and chunk), so no
event taken from the buffer is lost and no chunk number is skipped (a last event cut short by
the kill is dropped and counted). The run's first chunk carries the full begin-of-run ODB;
later ones a small dump naming the run and the chunk.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.midasfile.event import EVENT_HEADER_SIZE, EventHeader
from cygno_mw.midasfile.writer import MidasWriter

from .spool import ChunkManifest, ChunkSpool, atomic_write, chunk_name, fsync_path, is_disk_full

_JOURNAL = ".journal"
_META = ".meta.json"
_NAME = re.compile(r"^run(\d+)_(\d+)\.mid\.lz4")


@dataclass
class OpenChunk:
    """The chunk being filled: its journal file and what is in it so far."""

    run: int
    sequence: int
    journal: Path
    opened_at: float
    odb: dict[str, Any]
    fd: int = -1
    overhead: int = 0  # bytes of its metadata (the ODB dump the chunk file gets too)
    events: int = 0
    bytes: int = 0
    serials: dict[str, list[int]] = field(default_factory=dict)

    def closing_room(self) -> int:
        """Disk space closing it takes, at most: the LZ4 file (the events, LZ4's worst-case
        growth, the begin- and end-of-run dumps) and its manifest, next to the journal."""
        return self.bytes + self.bytes // 128 + 2 * self.overhead + 4096

    def note(self, header: EventHeader, size: int) -> None:
        key = str(header.event_id)
        span = self.serials.get(key)
        if span is None:
            self.serials[key] = [header.serial_number, header.serial_number]
        else:
            span[1] = header.serial_number
        self.events += 1
        self.bytes += size


class Chunker:
    """Groups raw MIDAS events of one run at a time into chunk files in `spool`."""

    def __init__(self, spool: ChunkSpool, *, max_bytes: int = 256 << 20,
                 max_age_s: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self.spool = spool
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.clock = clock
        self.open_dir = spool.directory / "open"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self.current: OpenChunk | None = None
        self.run: int | None = None
        self._bor_odb: dict[str, Any] = {}
        self.truncated_events = 0  # cut short by a crash, found by recover()

    # -- runs ------------------------------------------------------------------------------
    def begin_run(self, run: int, odb: Mapping[str, Any]) -> None:
        """A new run: close what is open, start the run's first chunk (with the full ODB)."""
        self.close_chunk()
        self.run = int(run)
        self._bor_odb = dict(odb)
        self._open(dict(odb))

    def end_run(self, odb: Mapping[str, Any] | None = None) -> ChunkManifest | None:
        """Close the run's last chunk (its end-of-run dump shows `odb`); when none is open, an
        empty one marks the run's end. None when no run was going."""
        if self.run is None:
            return None
        if self.current is None:
            self._open(_stub_odb(self.run))
        manifest = self.close_chunk(last=True, eor_odb=odb)
        self.run = None
        return manifest

    # -- events ----------------------------------------------------------------------------
    def add(self, data: bytes | bytearray | memoryview, run: int | None = None) -> None:
        """Append one raw event (header + data) to the open chunk, opening one if needed.
        All or nothing: when the disk is full (OSError), nothing of the event is kept and
        the same call may be repeated later. A full chunk is closed after the write; when
        that fails for lack of space, the chunk stays open and the next add() or tick()
        closes it first."""
        view = memoryview(data)
        header = EventHeader.from_buffer(view)
        chunk = self.current
        if chunk is not None and chunk.bytes >= self.max_bytes:
            self.close_chunk()
            chunk = None
        if chunk is None:
            if run is not None:
                self.run = int(run)
            if self.run is None:
                raise ValueError("an event outside any run and no run number given")
            chunk = self._open(_stub_odb(self.run), first_event=view)
        else:
            try:
                _write_all(chunk.fd, view)
            except OSError:
                os.ftruncate(chunk.fd, chunk.bytes)  # the journal as it was
                raise
        chunk.note(header, view.nbytes)
        if chunk.bytes >= self.max_bytes:
            try:
                self.close_chunk()
            except OSError as exc:
                if not is_disk_full(exc):
                    raise

    def tick(self) -> ChunkManifest | None:
        """Close the open chunk when it is full, or older than `max_age_s` and holds
        events."""
        chunk = self.current
        if chunk is not None and (chunk.bytes >= self.max_bytes or (
                chunk.events and self.clock() - chunk.opened_at >= self.max_age_s)):
            return self.close_chunk()
        return None

    # -- chunk files -----------------------------------------------------------------------
    def _open(self, odb: dict[str, Any], first_event: memoryview | None = None) -> OpenChunk:
        """The run's next chunk. With `first_event`, the journal holding it comes first (the
        event must not wait for an fsync in memory); without, the metadata does (so the
        run's first chunk never lacks its begin-of-run dump). Either is enough for
        `recover()`, and the journal or metadata on disk reserves the sequence number."""
        assert self.run is not None
        sequence = self.spool.next_sequence(self.run, self._open_sequences(self.run))
        name = chunk_name(self.run, sequence)
        journal = self.open_dir / (name + _JOURNAL)
        chunk = OpenChunk(self.run, sequence, journal, self.clock(), odb)
        meta = self.open_dir / (name + _META)
        try:
            if first_event is not None:
                chunk.fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                _write_all(chunk.fd, first_event)
            text = json.dumps({"run": self.run, "sequence": sequence,
                               "opened_at": chunk.opened_at, "odb": odb})
            chunk.overhead = len(text)
            atomic_write(meta, text)
            if first_event is None:
                chunk.fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.spool.remember_sequence(self.run, sequence)
        except OSError:  # the disk is full: nothing of this chunk stays, its number is free
            if chunk.fd >= 0:
                os.close(chunk.fd)
            for path in (journal, meta, meta.with_name(meta.name + ".tmp")):
                path.unlink(missing_ok=True)
            raise
        self.current = chunk
        return chunk

    def _open_sequences(self, run: int) -> list[int]:
        """Chunk numbers of `run` with a journal or metadata in `open/` (reserved)."""
        found = []
        for path in self.open_dir.iterdir():
            match = _NAME.match(path.name)
            if match and int(match.group(1)) == run:
                found.append(int(match.group(2)))
        return found

    def close_chunk(self, last: bool = False,
                    eor_odb: Mapping[str, Any] | None = None) -> ChunkManifest | None:
        """Turn the open journal into a spooled chunk file; None when nothing was open.
        When that fails (a full disk), the chunk stays open as it was: call again later."""
        chunk = self.current
        if chunk is None:
            return None
        try:
            manifest = self._finish(chunk.run, chunk.sequence, chunk.journal, chunk.opened_at,
                                    chunk.odb, last, eor_odb)
        except OSError:
            (self.open_dir / chunk_name(chunk.run, chunk.sequence)).unlink(missing_ok=True)
            raise
        self.current = None
        os.close(chunk.fd)
        return manifest

    def _finish(self, run: int, sequence: int, journal: Path, opened_at: float,
                odb: Mapping[str, Any], last: bool,
                eor_odb: Mapping[str, Any] | None) -> ChunkManifest:
        name = chunk_name(run, sequence)
        target = self.open_dir / name
        events = 0
        size = 0
        serials: dict[str, list[int]] = {}
        with MidasWriter(target, run, odb, compression="lz4") as writer:
            for header, raw in _journal_events(journal, self._count_truncated):
                writer.write_raw(raw)
                events += 1
                size += len(raw)
                span = serials.setdefault(str(header.event_id),
                                          [header.serial_number, header.serial_number])
                span[1] = header.serial_number
            if eor_odb is not None:
                writer.odb = dict(eor_odb)
        fsync_path(target)
        manifest = ChunkManifest(run=run, sequence=sequence, name=name, events=events,
                                 event_bytes=size, serials=serials, opened_at=opened_at,
                                 closed_at=self.clock(), last_chunk=last)
        self.spool.add(target, manifest)
        journal.unlink(missing_ok=True)
        (self.open_dir / (name + _META)).unlink(missing_ok=True)
        return manifest

    def _count_truncated(self) -> None:
        self.truncated_events += 1

    def recover(self) -> list[ChunkManifest]:
        """After a crash: close every journal left in `open/` (events kept, in order)."""
        done: list[ChunkManifest] = []
        for leftover in self.open_dir.glob("*.mid.lz4"):
            leftover.unlink()  # a chunk file cut short while being built; its journal remains
        for tmp in self.open_dir.glob("*.tmp"):
            tmp.unlink()  # metadata cut short before its rename: the journal has the name
        left: set[tuple[int, int]] = set()
        for path in self.open_dir.iterdir():
            match = _NAME.match(path.name)
            if match:
                left.add((int(match.group(1)), int(match.group(2))))
        for run, sequence in sorted(left):
            name = chunk_name(run, sequence)
            journal = self.open_dir / (name + _JOURNAL)
            meta_path = self.open_dir / (name + _META)
            if self.spool.has(name):  # spooled, killed before the journal was deleted
                journal.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                continue
            meta = _read_meta(meta_path)
            journal.touch()
            self.spool.remember_sequence(run, sequence)
            done.append(self._finish(run, sequence, journal,
                                     float(meta.get("opened_at") or journal.stat().st_mtime),
                                     meta.get("odb") or _stub_odb(run), False, None))
        return done

    def close(self) -> None:
        self.close_chunk()


def _journal_events(journal: Path, on_truncated: Callable[[], None]
                    ) -> Iterator[tuple[EventHeader, bytes]]:
    with open(journal, "rb") as handle:
        while True:
            head = handle.read(EVENT_HEADER_SIZE)
            if not head:
                return
            if len(head) < EVENT_HEADER_SIZE:
                on_truncated()
                return
            header = EventHeader.from_buffer(head)
            body = handle.read(header.data_size)
            if len(body) < header.data_size:
                on_truncated()
                return
            yield header, head + body


def _read_meta(path: Path) -> dict[str, Any]:
    """A chunk's metadata; {} when it was never written (killed before it)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _stub_odb(run: int) -> dict[str, Any]:
    return {"Runinfo": {"Run number": int(run)}}


def is_stub_odb(odb: Mapping[str, Any]) -> bool:
    """The small dump of a chunk that is not the run's first (run number only), as opposed
    to the full begin-of-run ODB that the run's settings are read from."""
    runinfo = odb.get("Runinfo")
    return set(odb) <= {"Runinfo"} and (not isinstance(runinfo, Mapping)
                                        or set(runinfo) <= {"Run number"})


def _write_all(fd: int, view: memoryview) -> None:
    while view.nbytes:
        written = os.write(fd, view)
        view = view[written:]
