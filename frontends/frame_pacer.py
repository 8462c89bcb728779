"""Frame timing of free-running stand-in devices (simulated and replayed cameras, the
simulated digitizer): shared by the frontends that pace their events."""

from __future__ import annotations

import time
from collections.abc import Callable


class FramePacer:
    """Frame timing of a free-running stand-in camera: `rate_hz` frames per second (0: no
    pacing), counting as drops the frames a slow reader let pass."""

    def __init__(self, rate_hz: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.dropped = 0
        self.set_rate(rate_hz)

    def set_rate(self, rate_hz: float) -> None:
        self.period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.due = self.clock() + self.period

    def restart(self) -> None:
        self.dropped = 0
        self.due = self.clock() + self.period

    def ready(self) -> bool:
        if self.period == 0.0:
            return True
        now = self.clock()
        if now < self.due:
            return False
        missed = int((now - self.due) // self.period)
        if missed:
            self.dropped += missed
            self.due += missed * self.period
        return True

    def taken(self) -> None:
        if self.period:
            self.due += self.period
