"""Chunk files waiting on local disk for S3 and the database, oldest first.

`<spool>/ready/<name>` is a complete, fsynced chunk file; `<name>.json` next to it is its
manifest (what is inside, its SHA-256, and how far it got: `ready` -> `stored` once S3 holds
it, verified). The manifest is written after the file and atomically, so a chunk without one
is not yet handed over (the chunker still has its journal). A chunk leaves the spool only
when its SQL row is written. `state.json` remembers the latest run's next chunk sequence
number, so a restarted uploader never reuses one; a number is taken only by a chunk that
exists (its journal or metadata in `open/`, or its manifest here), so none is skipped.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.file_digest import file_hexdigest

READY = "ready"
STORED = "stored"


def chunk_name(run: int, sequence: int) -> str:
    return f"run{int(run):05d}_{int(sequence):05d}.mid.lz4"


@dataclass
class ChunkManifest:
    """One chunk file: where in the run it is, what it holds, and how far it got."""

    run: int
    sequence: int
    name: str
    events: int
    event_bytes: int
    serials: dict[str, list[int]]  # event id -> [first serial, last serial]
    opened_at: float
    closed_at: float
    last_chunk: bool = False
    bytes: int = 0  # size of the chunk file
    sha256: str = ""
    status: str = READY
    s3_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> ChunkManifest:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


class ChunkSpool:
    """The spool folder; `limit_bytes` is what the chunk files may take together."""

    def __init__(self, directory: str | Path, limit_bytes: int = 10 << 30) -> None:
        self.directory = Path(directory)
        self.ready_dir = self.directory / "ready"
        self.ready_dir.mkdir(parents=True, exist_ok=True)
        self.limit_bytes = int(limit_bytes)
        self._state_path = self.directory / "state.json"
        self._next: dict[int, int] = {}  # run -> next chunk number, once read from disk
        for tmp in self.ready_dir.glob("*.tmp"):
            tmp.unlink()

    # -- sequence numbers ------------------------------------------------------------------
    def next_sequence(self, run: int, reserved: list[int] | tuple[int, ...] = ()) -> int:
        """The next unused chunk number of `run`: after what `state.json` remembers, the
        spooled chunks (read from disk once per run) and `reserved` (the chunker's open
        ones). Nothing is written: the chunk's own files reserve it, then
        `remember_sequence` records it."""
        if run not in self._next:
            used = [int(self._state().get(str(run), 0)) - 1]
            used += [int(p.name[len(f"run{run:05d}_"):].split(".", 1)[0])
                     for p in self.ready_dir.glob(f"run{int(run):05d}_*.mid.lz4.json")]
            self._next = {run: max(used) + 1}  # only the latest run matters
        return max([self._next[run] - 1, *reserved]) + 1

    def remember_sequence(self, run: int, sequence: int) -> None:
        """`sequence` of `run` exists: never hand it out again (only the latest run kept).
        On disk first: when that fails (a full disk), the number is not taken."""
        if int(self._state().get(str(run), 0)) <= sequence:
            atomic_write(self._state_path, json.dumps({str(run): sequence + 1}))
        if self._next.get(run, 0) <= sequence:
            self._next = {run: sequence + 1}

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._state_path.read_text()))
        except (OSError, ValueError):
            return {}

    # -- chunks ----------------------------------------------------------------------------
    def add(self, path: Path, manifest: ChunkManifest) -> ChunkManifest:
        """Take a complete, fsynced chunk file (moved in) and its manifest."""
        manifest.bytes = path.stat().st_size
        manifest.sha256 = file_hexdigest(path, "sha256")
        target = self.ready_dir / manifest.name
        os.replace(path, target)
        self.save(manifest)
        fsync_path(self.ready_dir)
        return manifest

    def save(self, manifest: ChunkManifest) -> None:
        atomic_write(self.ready_dir / (manifest.name + ".json"), manifest.to_json())

    def has(self, name: str) -> bool:
        return (self.ready_dir / (name + ".json")).exists()

    def path(self, manifest: ChunkManifest) -> Path:
        return self.ready_dir / manifest.name

    def pending(self) -> list[ChunkManifest]:
        """Every chunk in the spool, oldest first (by run, then sequence)."""
        found = []
        for path in self.ready_dir.glob("*.mid.lz4.json"):
            try:
                found.append(ChunkManifest.from_json(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(found, key=lambda m: (m.run, m.sequence))

    def remove(self, manifest: ChunkManifest) -> None:
        """The chunk is on S3 and in SQL: forget it (manifest last)."""
        self.path(manifest).unlink(missing_ok=True)
        (self.ready_dir / (manifest.name + ".json")).unlink(missing_ok=True)

    def size_bytes(self) -> int:
        """What the spool holds: chunk files and open journals."""
        total = 0
        for folder in (self.ready_dir, self.directory / "open"):
            if folder.is_dir():
                total += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        return total

    def fill(self) -> float:
        """Fraction of the limit in use (1.0 = full)."""
        return self.size_bytes() / self.limit_bytes if self.limit_bytes > 0 else 0.0


def is_disk_full(exc: BaseException) -> bool:
    """No space left, or over a quota: waiting for the spool to drain helps."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def atomic_write(path: Path, text: str) -> None:
    """Write, fsync, rename: `path` has the old text or the new, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no part behind
        raise
    os.replace(tmp, path)


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path (a folder: so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
