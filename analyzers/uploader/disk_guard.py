"""What the uploader does when the spool's disk is full: hold, keep the order, try again.

A spool step that fails for lack of space (ENOSPC, EDQUOT) is kept, in order, with every step
asked for after it, and tried again every `retry_s` (the chunker's steps leave nothing behind
when they fail, so a step can be repeated). Meanwhile the uploader takes no event from the
buffer, so the DAQ waits as it does at the spool limit, and the shipper, which only frees
space, drains the spool. Any other error is not a full disk and is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .spool import is_disk_full


class DiskFullGuard:
    """Runs spool steps now, or queues them while the disk is full."""

    def __init__(self, retry_s: float, on_full: Callable[[str], None],
                 on_room: Callable[[], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.retry_s = retry_s
        self.on_full = on_full  # told once per episode, with a one-line reason
        self.on_room = on_room  # told when every held step is done
        self.clock = clock
        self.held: list[Callable[[], object]] = []
        self.reason = ""
        self._next_try = 0.0

    @property
    def full(self) -> bool:
        return bool(self.held)

    def run(self, step: Callable[[], object],
            keep: Callable[[], Callable[[], object]] | None = None) -> bool:
        """Do `step` now (True), or hold it (False) when the disk is full or steps wait
        already. `keep` gives the step to hold instead, when `step` refers to memory that
        will not last (an event in the receive buffer)."""
        if self.held:
            self.held.append(keep() if keep is not None else step)
            return False
        try:
            step()
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self.held.append(keep() if keep is not None else step)
            self._full(exc)
            return False
        return True

    def retry(self) -> bool:
        """Every `retry_s`: the held steps in order, as far as they go; True when none is
        left."""
        if not self.held:
            return True
        now = self.clock()
        if now < self._next_try:
            return False
        self._next_try = now + self.retry_s
        while self.held:
            try:
                self.held[0]()
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                return False
            self.held.pop(0)
        self.reason = ""
        self.on_room()
        return True

    def _full(self, exc: OSError) -> None:
        self._next_try = self.clock() + self.retry_s
        where = f" ({exc.filename})" if exc.filename else ""
        self.reason = f"{exc.strerror or exc}{where}"
        self.on_full(self.reason)
