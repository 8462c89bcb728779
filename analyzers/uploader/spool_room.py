"""Whether the spool has room for the next event: within `Spool limit MB` and on its disk.

The uploader takes an event only when it can be journaled and its chunk closed; otherwise
the event waits in the buffer (so the DAQ waits) while the shipper drains the spool. A disk
found too full here counts as full exactly as a write that met ENOSPC (disk_guard.py), and
both are said once an episode.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from .chunker import Chunker
from .disk_guard import DiskFullGuard
from .settings import MIB
from .spool import ChunkSpool


@dataclass(eq=False)
class SpoolRoom:
    """The spool's size and its disk's free space, measured now and then, counted between."""

    client: Any
    name: str
    spool: ChunkSpool
    chunker: Chunker
    retry_s: float
    disk_low: bool = False  # too little free space for the next event: not taken
    disk_reason: str = ""
    spool_bytes: int = 0  # measured at the first check, before any event is taken
    _disk_free: int = 0
    _disk_said: bool = False
    _disk_said_at: float = -1e9
    _checked: float = 0.0
    _measured_chunk: Any = None
    _largest_event: int = 0
    guard: DiskFullGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = DiskFullGuard(self.retry_s, self.disk_full, self.disk_room)

    def taken(self, nbytes: int) -> None:
        """Count an event journaled since the last measurement."""
        self.spool_bytes += nbytes
        self._disk_free -= nbytes
        self._largest_event = max(self._largest_event, nbytes)

    def full(self) -> bool:
        """The spool's files, the room the open chunk needs to close (its LZ4 file next to
        its journal and metadata) and the next event (in its journal and its LZ4 file: twice
        the largest seen) would pass the limit. Measured on disk when a chunk was opened or
        closed (or every 0.5 s: the shipper frees room), else counted per event, so the
        spool stays within its limit unless an event is larger than any before it. The same
        room must be free on the disk: an event is taken only when it can be journaled and
        its chunk closed (else the disk counts as full, as when a write meets ENOSPC)."""
        now = time.monotonic()
        chunk = self.chunker.current
        if now - self._checked > 0.5 or chunk is not self._measured_chunk:
            self._checked = now
            self._measured_chunk = chunk
            self.spool_bytes = self.spool.size_bytes()
            self._disk_free = shutil.disk_usage(self.spool.directory).free
        reserved = chunk.closing_room() if chunk is not None else 0
        reserved += 2 * self._largest_event
        low = self._disk_free < reserved
        if low != self.disk_low:
            self.disk_low = low
            if low:
                self.disk_full(f"{self._disk_free / MIB:.1f} MB free, "
                               f"{reserved / MIB:.1f} MB needed")
            else:
                self.disk_room()
        return low or self.spool_bytes + reserved > self.spool.limit_bytes

    def disk_full(self, reason: str) -> None:
        """Said once an episode (and at most every 30 s, should the room come and go)."""
        self.disk_reason = reason
        now = time.monotonic()
        if not self._disk_said and now - self._disk_said_at > 30:
            self._disk_said, self._disk_said_at = True, now
            self.client.msg(f"{self.name}: spool disk full ({reason}): no event is taken (the "
                            "DAQ waits) until the spool drains to S3", True)

    def disk_room(self) -> None:
        """Said when neither a held write nor the free space keeps events out any more."""
        if self._disk_said and not (self.guard.full or self.disk_low):
            self._disk_said = False
            self.client.msg(f"{self.name}: spool disk has room again: taking events")
