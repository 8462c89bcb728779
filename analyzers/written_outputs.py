"""`WrittenOutputs`: where one run's results ended up, and how many InfluxDB points did not.

Apart from the sinks because the run summary reads it without needing the sinks, and the
point accounting is plain arithmetic on two snapshots of the InfluxDB writer's counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WrittenOutputs:
    """Where one run's results ended up (for the summary)."""

    database: str
    reco_file: str | None = None
    pedestal_maps: dict[int, str] = field(default_factory=dict)
    influx: str | None = None
    pass_name: str | None = None  # the processing pass the results belong to
    influx_points: str | None = None  # "N written, M not written (...)" (replay)
    problem: str | None = None  # an output that lost results: the run is not 'done'

    def account_influx(self, before: Mapping[str, Any], now: Mapping[str, Any],
                       influx_url: str) -> int:
        """Note the run's points written / not written from the InfluxDB writer's counters
        before and after it (a lost point is a problem); returns the number lost."""

        def delta(name: str) -> int:
            return int(now.get(name, 0)) - int(before.get(name, 0))

        sent, dropped, rejected = delta("written"), delta("dropped"), delta("rejected")
        waiting = int(now.get("buffered", 0))
        lost = dropped + rejected + waiting
        self.influx_points = (f"{sent} points written, {waiting} not sent (server "
                              f"unreachable; dropped at exit unless it returns), "
                              f"{dropped + rejected} dropped")
        if lost:
            why = now.get("last_error") or "no answer"
            self.problem = (f"InfluxDB {influx_url}: {lost} of "
                            f"{sent + lost} points not written ({why})")
        return lost
