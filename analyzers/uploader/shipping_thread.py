"""The uploader's second thread: ships the spool's chunks (and mlogger's run files) in order.

It shares only `Counters` (ints, floats and strings: safe to read across threads) and a list
of notes with the MIDAS thread, which alone talks to the ODB; a SQL conflict stops it with
`fatal` set, the chunk kept in the spool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .runfiles import RunFileShipper
from .shipper import Shipper

log = logging.getLogger(__name__)


@dataclass
class Counters:
    """What the two threads count (ints and floats only: safe to read across threads)."""

    events: int = 0
    event_bytes: int = 0
    chunks_closed: int = 0
    chunks_uploaded: int = 0
    chunks_found_stored: int = 0
    uploaded_bytes: int = 0
    run_files_uploaded: int = 0
    waiting_for: str = ""
    last_error: str = ""
    rate_points: list[tuple[float, int, int, int]] = field(default_factory=list)


class ShipperThread(threading.Thread):
    """Ships the spool's chunks in order; waits `retry_s` after S3 or SQL was unreachable."""

    def __init__(self, shipper: Shipper, counters: Counters, retry_s: float,
                 run_files: RunFileShipper | None = None,
                 open_run: Callable[[], int | None] = lambda: None) -> None:
        super().__init__(name="uploader-shipper", daemon=True)
        self.shipper = shipper
        self.run_files = run_files
        self.open_run = open_run
        self.notes: list[str] = []  # messages for the MIDAS thread
        self.counters = counters
        self.retry_s = retry_s
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.fatal: str = ""

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                result = self.shipper.ship_one()
            except Exception as exc:  # a conflict in SQL: say it, keep the chunk, stop here
                self.fatal = str(exc)
                self.counters.last_error = str(exc)
                return
            if result.shipped is not None:
                self.counters.waiting_for = ""
                self.counters.chunks_uploaded += 1
                self.counters.uploaded_bytes += result.shipped.bytes
                if not result.uploaded:
                    self.counters.chunks_found_stored += 1
                continue
            if not result.waiting_for and self.run_files is not None:
                state = self._run_file()
                if state == "done":
                    continue
                if state == "wait":
                    self.wake.wait(self.retry_s)
                    self.wake.clear()
                    continue
            if result.waiting_for:
                if not self.counters.waiting_for:
                    log.warning("uploader waits for %s: %s", result.waiting_for, result.error)
                self.counters.waiting_for = result.waiting_for
                self.counters.last_error = result.error
                self.wake.wait(self.retry_s)
            else:
                self.wake.wait(0.5)
            self.wake.clear()

    def _run_file(self) -> str:
        """One closed run file of mlogger's (chunks go first): "done", "none" (nothing to
        do) or "wait" (S3 or the database unreachable: try again after `retry_s`)."""
        assert self.run_files is not None
        results = self.run_files.ship(self.open_run())
        state = "none"
        for result in results:
            if result.run in self.run_files.refused:
                self.notes.append(result.error)  # reported once: the run is left alone
            elif result.error:
                log.warning("run file %s waits: %s", result.name, result.error)
                state = "wait"
            else:
                self.counters.run_files_uploaded += 1
                state = "done"
        return state

    def stop(self, drain_s: float = 30.0) -> None:
        """Give the spool `drain_s` to empty (when S3 and SQL answer), then stop."""
        deadline = time.monotonic() + drain_s
        while (self.is_alive() and self.shipper.spool.pending()
               and not self.counters.waiting_for and time.monotonic() < deadline):
            self.wake.set()
            time.sleep(0.05)
        self.stopping.set()
        self.wake.set()
        self.join(timeout=60)
