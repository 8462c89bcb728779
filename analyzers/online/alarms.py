"""MIDAS alarms raised by the online analyzer, each once until its condition clears.

- `Analyzer no events`: a run is running (not paused) and nothing arrived for `no_events_s`;
- `Analyzer pedestal drift`: a pedestal run's mean pedestal or noise moved more than
  `drift_threshold` ADC counts from the reference map (the previous pedestal run);
- `Analyzer output behind`: more than `output_backlog_limit` batches/points wait for a server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NO_EVENTS = "Analyzer no events"
PEDESTAL_DRIFT = "Analyzer pedestal drift"
OUTPUT_BEHIND = "Analyzer output behind"


@dataclass(frozen=True)
class AlarmLimits:
    no_events_s: float = 60.0
    drift_threshold: float = 5.0
    output_backlog_limit: int = 1000


class OnlineAlarms:
    """Triggers and resets the analyzer's internal alarms through a MIDAS client."""

    def __init__(self, client: Any, limits: AlarmLimits, alarm_class: str = "Alarm") -> None:
        self.client = client
        self.limits = limits
        self.alarm_class = alarm_class
        self.active: set[str] = set()
        self._drifting: set[int] = set()  # cameras whose last pedestal run drifted

    def _set(self, name: str, on: bool, message: str = "") -> None:
        if on and name not in self.active:
            self.client.trigger_internal_alarm(name, message[:79], self.alarm_class)
            self.client.msg(message, is_error=True)
            self.active.add(name)
        elif not on and name in self.active:
            self.active.discard(name)
            with contextlib.suppress(Exception):  # already reset by the crew
                self.client.reset_alarm(name)

    def check_events(self, running: bool, idle_s: float | None) -> None:
        late = running and idle_s is not None and idle_s > self.limits.no_events_s
        self._set(NO_EVENTS, late, f"no events for {idle_s or 0:.0f} s during the run")

    def check_output(self, backlog: int) -> None:
        self._set(OUTPUT_BEHIND, backlog > self.limits.output_backlog_limit,
                  f"analyzer outputs {backlog} batches/points behind")

    def check_pedestal(self, run: int, camera: int, stats: Mapping[str, float],
                       reference: Mapping[str, float] | None) -> None:
        if not reference:
            return
        drift = {key: abs(float(stats[key]) - float(reference[key]))
                 for key in ("pedestal_mean", "noise_mean") if key in stats and key in reference}
        worst = max(drift, key=drift.__getitem__) if drift else None
        if worst is not None and drift[worst] > self.limits.drift_threshold:
            self._drifting.add(int(camera))
        else:
            self._drifting.discard(int(camera))  # one good camera must not clear another's
        self._set(PEDESTAL_DRIFT, bool(self._drifting),
                  f"run {run} camera {camera}: {worst} moved {drift.get(worst or '', 0):.1f} ADC")
