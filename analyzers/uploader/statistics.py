"""What the uploader shows: `/Equipment/Uploader/Statistics`, its status line and colour on
the status page, the spool alarm, and MIDAS messages when S3 or SQL goes away or returns.

Only the MIDAS thread writes the ODB: the shipper thread's counters and notes are read here.
Rates are over the last 30 s, so a pause in the DAQ shows within one window.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from .settings import COMMON_PATH, GREEN, MIB, RED, STATISTICS_PATH, YELLOW
from .shipping_thread import Counters, ShipperThread
from .spool_room import SpoolRoom

SPOOL_ALARM = "Uploader spool full"


@dataclass(eq=False)
class StatusReport:
    """Writes statistics, status and alarm every `Statistics interval s` (or when forced)."""

    client: Any
    name: str
    settings: dict[str, Any]
    counters: Counters
    shipper: ShipperThread
    room: SpoolRoom
    alarm_on: bool = False
    _next_statistics: float = 0.0
    _last_waiting: str = ""

    def periodic(self, running: bool, run: int | None, force: bool = False) -> None:
        """Write it all when due; `running` and `run` say what the status line names."""
        now = time.monotonic()
        if not force and now < self._next_statistics:
            return
        self._next_statistics = now + float(self.settings["Statistics interval s"])
        counters, room, spool = self.counters, self.room, self.room.spool
        room.spool_bytes = spool.size_bytes()
        fill = room.spool_bytes / spool.limit_bytes if spool.limit_bytes else 0.0
        backlog = len(spool.pending())
        points = counters.rate_points
        points.append((now, counters.event_bytes, counters.uploaded_bytes, counters.events))
        while len(points) > 2 and now - points[0][0] > 30:
            points.pop(0)
        span = now - points[0][0]
        in_rate = (counters.event_bytes - points[0][1]) / span if span > 0 else 0.0
        out_rate = (counters.uploaded_bytes - points[0][2]) / span if span > 0 else 0.0
        event_rate = (counters.events - points[0][3]) / span if span > 0 else 0.0
        self.client.odb_set(STATISTICS_PATH, {
            "Events sent": float(counters.events),
            "Events per sec.": event_rate,
            "kBytes per sec.": in_rate / 1024,
            "Events": float(counters.events), "Bytes": float(counters.event_bytes),
            "Chunks closed": counters.chunks_closed,
            "Chunks uploaded": counters.chunks_uploaded,
            "Chunks found on S3": counters.chunks_found_stored,
            "Backlog chunks": backlog,
            "Spool MB": room.spool_bytes / MIB,
            "Spool percent": 100.0 * fill,
            "Upload MB per s": out_rate / MIB,
            "Waiting for": counters.waiting_for,
            "Run files uploaded": counters.run_files_uploaded,
        }, remove_unspecified_keys=False)
        while self.shipper.notes:
            self.client.msg(f"{self.name}: {self.shipper.notes.pop(0)}", True)
        self._status(fill, backlog, running, run)
        self._alarm(fill)
        if counters.waiting_for != self._last_waiting:
            if counters.waiting_for:
                self.client.msg(f"{self.name}: {counters.waiting_for} unreachable; chunks are "
                                f"kept in the spool ({counters.last_error[:200]})", True)
            else:
                self.client.msg(f"{self.name}: {self._last_waiting} back; spooled chunks sent")
            self._last_waiting = counters.waiting_for

    def _status(self, fill: float, backlog: int, running: bool, run: int | None) -> None:
        counters, room = self.counters, self.room
        if self.shipper.fatal:
            text, colour = f"Stopped shipping: {self.shipper.fatal}"[:250], RED
        elif room.guard.full or room.disk_low:
            reason = room.guard.reason or room.disk_reason
            text, colour = f"Spool disk full: the DAQ waits ({reason})"[:250], RED
        elif room.full():
            text, colour = "Spool full: the DAQ waits", RED
        elif counters.waiting_for:
            text, colour = (f"{counters.waiting_for} down: {backlog} chunks spooled "
                            f"({100 * fill:.0f}%)"), YELLOW
        else:
            text = f"Uploading run {run}" if running else "Idle"
            text += f", {backlog} chunks to send" if backlog else ""
            colour = GREEN
        self.client.odb_set(f"{COMMON_PATH}/Status", text)
        self.client.odb_set(f"{COMMON_PATH}/Status color", colour)

    def _alarm(self, fill: float) -> None:
        room = self.room
        limit = float(self.settings["Spool alarm percent"]) / 100.0
        full = fill >= limit or room.full() or room.guard.full
        if full and not self.alarm_on:
            message = (f"uploader spool disk full ({room.spool_bytes / MIB:.0f} MB spooled)"
                       if room.guard.full or room.disk_low else
                       f"uploader spool {100 * fill:.0f}% full ({room.spool_bytes / MIB:.0f} MB)")
            self.client.trigger_internal_alarm(SPOOL_ALARM, message[:79],
                                               str(self.settings["Alarm class"]))
            self.client.msg(message, True)
            self.alarm_on = True
        elif not full and self.alarm_on:
            self.alarm_on = False
            with contextlib.suppress(Exception):
                self.client.reset_alarm(SPOOL_ALARM)
