"""The online analyzer's counters, written to `/Analyzer/Reco/Statistics` for the shift crew.

Counters are bumped by two threads (the MIDAS loop receives, the processing thread analyzes)
under one lock; the MIDAS loop alone writes them to the ODB, every few seconds.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

STATISTICS_PATH = "/Analyzer/Reco/Statistics"
LATENCY_WINDOW = 1000  # latest events the percentiles are taken over


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
