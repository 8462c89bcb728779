"""Slow-control events (HV, cathode, environment, gas) → readings for the Slow Control table.

Each equipment's event ID and channel names come from the run's ODB
(`cygno_mw.banks.slow_control.layouts_from_odb`).  A reading becomes one sample per
channel: the main variable (Measured, else Input) under the channel's own name, the
others as `<channel>_<variable>` in lower case (`VGEM1_demand`, `VGEM1_current`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cygno_mw.banks.slow_control import (
    SlowControlBankError,
    decode_slow_control,
    layout_for_event,
    layouts_from_odb,
)

log = logging.getLogger(__name__)


@dataclass
class SlowControlReading:
    """One equipment's event: {variable name: value} at one time."""

    run: int
    equipment: str
    time: float  # UNIX seconds
    values: dict[str, float]

    def samples(self) -> list[dict[str, Any]]:
        """Rows for `SqlSink.write_slow_control`."""
        from cygno_mw.analyzers.run_info import utc_time

        when = utc_time(self.time)
        return [{"time": when, "equipment": self.equipment, "variable": name,
                 "value": value, "run": self.run} for name, value in self.values.items()]


class SlowControlDecoder:
    """Recognises and decodes the slow-control events of one run (layouts from its ODB)."""

    def __init__(self, odb: Mapping[str, Any] | None) -> None:
        self.layouts = layouts_from_odb(odb or {})
        self.event_ids = frozenset(layout.event_id for layout in self.layouts.values())
        self.bad_events = 0

    def is_slow_control(self, event_id: int) -> bool:
        return event_id in self.event_ids

    def decode(self, run: int, event_id: int, timestamp: float,
               banks: Mapping[str, Any]) -> SlowControlReading | None:
        """The reading of one event, or None (counted in `bad_events`) when it does not fit."""
        layout = layout_for_event(event_id, self.layouts)
        if layout is None:
            return None
        try:
            decoded = decode_slow_control(layout, banks)
        except SlowControlBankError as exc:
            self.bad_events += 1
            if self.bad_events <= 3:
                log.warning("run %d: slow-control event id %d skipped: %s", run, event_id, exc)
            return None
        main = layout.main_variable
        values: dict[str, float] = {}
        for variable, channels in decoded.items():
            suffix = "" if variable == main else f"_{variable.lower()}"
            for channel, value in channels.items():
                values[f"{channel}{suffix}"] = value
        return SlowControlReading(int(run), layout.equipment, float(timestamp), values)
