"""The online analyzer's counters, written to `/Analyzer/Reco/Statistics` for the shift
crew, their numbers also to `/Equipment/<client name>/Variables` (an equipment record with
`Log history` on, so mlogger keeps MIDAS history of them and mhttpd's history plots work
without Grafana; no `Statistics` subtree, so it is not taken for a DAQ equipment), and, with
InfluxDB, as `cygno_analyzer` points for Grafana, with each equipment's DAQ rates from
`/Equipment/*/Statistics` as `cygno_daq` points).

Counters are bumped by two threads (the MIDAS loop receives, the processing thread analyzes)
under one lock; the MIDAS loop alone writes them to the ODB, every few seconds.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

STATISTICS_PATH = "/Analyzer/Reco/Statistics"
LATENCY_WINDOW = 1000  # latest events the percentiles are taken over
# the statistics logged to MIDAS history (all numbers, written as doubles)
HISTORY_VARIABLES = ("Events received", "Events analyzed", "Events skipped", "Events dropped",
                     "Images reconstructed", "Clusters", "Rate", "Latency p50 ms",
                     "Latency p99 ms", "Backlog", "Output backlog")
HISTORY_PERIOD_S = 1  # `Common/Log history`: mlogger writes at most once per this many s


def history_path(client_name: str) -> str:
    """The equipment record whose Variables mlogger logs: `/Equipment/<client name>`."""
    return f"/Equipment/{client_name}"


def history_common(client_name: str) -> dict[str, Any]:
    """`Common` of that record: history on, and the client that writes it (the status page
    lists it as an equipment: green while the analyzer runs, "Frontend stopped" without)."""
    return {"Log history": HISTORY_PERIOD_S, "Enabled": True, "Hidden": False,
            "Frontend name": client_name, "Frontend host": socket.gethostname(),
            "Status": "", "Status color": ""}


class OnlineStatistics:
    """Events received / analyzed / skipped, rate, latency percentiles, outputs backlog."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.received = 0
        self.analyzed = 0
        self.skipped = 0
        self.malformed = 0
        self.dropped = 0  # not kept because the analyzer was busy (GET_NONBLOCKING)
        self.outside_run = 0
        self.images = 0
        self.clusters = 0
        self.run = 0
        self.run_state = "stopped"
        self.backend = ""
        self.device = ""
        self.backlog = 0
        self.output_backlog = 0
        self.output_dropped = 0  # SQL rows (spool full) + InfluxDB points (buffer full) lost
        self.last_event_at: float | None = None
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self._rate_mark = (self._clock(), 0)
        self.rate = 0.0

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def received_event(self) -> None:
        with self._lock:
            self.received += 1
            self.last_event_at = self._clock()

    def analyzed_event(self, latency_s: float, images: int = 0, clusters: int = 0) -> None:
        with self._lock:
            self.analyzed += 1
            self.images += images
            self.clusters += clusters
            self._latencies.append(max(0.0, float(latency_s)))

    def latency_ms(self, percentile: float) -> float:
        with self._lock:
            values = list(self._latencies)
        return float(np.percentile(values, percentile) * 1000.0) if values else 0.0

    def update_rate(self) -> float:
        """Events analyzed per second since the previous call."""
        now = self._clock()
        with self._lock:
            then, count = self._rate_mark
            if now > then:
                self.rate = (self.analyzed - count) / (now - then)
            self._rate_mark = (now, self.analyzed)
            return self.rate

    def to_odb(self) -> dict[str, Any]:
        """The `/Analyzer/Reco/Statistics` record (keys as in odb_templates)."""
        p50, p99 = self.latency_ms(50), self.latency_ms(99)
        with self._lock:
            return {
                "Run": int(self.run),
                "Run state": self.run_state,
                "Events received": float(self.received),
                "Events analyzed": float(self.analyzed),
                "Events skipped": float(self.skipped),
                "Events malformed": float(self.malformed),
                "Events dropped": float(self.dropped),
                "Events outside runs": float(self.outside_run),
                "Images reconstructed": float(self.images),
                "Clusters": float(self.clusters),
                "Rate": float(self.rate),
                "Latency p50 ms": p50,
                "Latency p99 ms": p99,
                "Backend": self.backend,
                "Device": self.device,
                "Backlog": int(self.backlog),
                "Output backlog": int(self.output_backlog),
                "Output dropped": int(self.output_dropped),
            }

    def to_history(self, odb: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The `/Equipment/<client name>/Variables` record (HISTORY_VARIABLES)."""
        odb = self.to_odb() if odb is None else odb
        return {name: float(odb[name]) for name in HISTORY_VARIABLES}

    def to_influx(self) -> dict[str, Any]:
        """The `cygno_analyzer` fields (influx_schema.ANALYZER)."""
        odb = self.to_odb()
        return {"events_received": odb["Events received"],
                "events_analyzed": odb["Events analyzed"],
                "events_skipped": odb["Events skipped"], "rate_hz": odb["Rate"],
                "latency_p50_s": odb["Latency p50 ms"] / 1000.0,
                "latency_p99_s": odb["Latency p99 ms"] / 1000.0,
                "backlog_events": odb["Backlog"], "output_backlog": odb["Output backlog"],
                "output_dropped": odb["Output dropped"]}


# /Equipment/<name>/Statistics keys (written by every MIDAS frontend) -> cygno_daq fields
_DAQ_FIELDS = {"Events per sec.": ("event_rate_hz", 1.0), "kBytes per sec.": ("data_rate_mb_s",
                                                                              1e-3),
               "Events sent": ("events", 1.0)}


def equipment_statistics(client: Any) -> dict[str, dict[str, float]]:
    """Each equipment's DAQ rates from the ODB, as `cygno_daq` fields; {} where unreadable."""
    try:
        names = list(client.odb_get("/Equipment", recurse_dir=False))
    except Exception:  # no equipment yet
        return {}
    found = {}
    for name in names:
        if name.endswith("/key"):
            continue
        try:
            stats = client.odb_get(f"/Equipment/{name}/Statistics")
        except Exception:  # an equipment without statistics (being created)
            continue
        if isinstance(stats, Mapping):
            fields = {field: float(stats[key]) * scale
                      for key, (field, scale) in _DAQ_FIELDS.items() if key in stats}
            if fields:
                found[str(name)] = fields
    return found
