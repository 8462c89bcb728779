"""Reconstructed clusters against the simulation's truth, matched by position.

A signal and a cluster of the same event match when the signal's light-weighted centroid
lies inside the cluster's extent (widened by `margin` pixels) or within `radius` pixels of
the cluster's centroid (half the track length for long tracks).  Each signal and each
cluster is used once, closest pairs first.  Only signals inside the acceptance window
(the Reco parameters' xmin..xmax, ymin..ymax) can be found; the others are counted apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class KindCount:
    injected: int = 0
    found: int = 0


@dataclass
class MatchReport:
    signals: int = 0  # injected, all
    in_window: int = 0  # injected inside the acceptance window
    clusters: int = 0
    matched: int = 0  # signals (in the window) with a cluster
    by_kind: dict[str, KindCount] = field(default_factory=dict)
    position_errors: list[float] = field(default_factory=list)  # px, per matched signal

    @property
    def efficiency(self) -> float:
        return self.matched / self.in_window if self.in_window else 0.0

    @property
    def unmatched_clusters(self) -> int:
        return self.clusters - self.matched

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {c.found}/{c.injected}"
                          for kind, c in sorted(self.by_kind.items()))
        median = float(np.median(self.position_errors)) if self.position_errors else 0.0
        return [
            f"injected {self.signals} signals, {self.in_window} inside the acceptance window",
            f"found {self.clusters} clusters; {self.matched} of the {self.in_window} signals "
            f"matched ({100 * self.efficiency:.0f}%: {kinds}); median position error "
            f"{median:.1f} px",
            f"{self.unmatched_clusters} clusters matched no signal (pieces of split tracks, "
            f"merged pairs or noise)",
        ]


def match_clusters(truth: Mapping[int, Sequence[Any]], clusters: Any,
                   window: tuple[float, float, float, float], *, margin: float = 8.0,
                   radius: float = 20.0) -> MatchReport:
    """`truth`: event → TrueSignals; `clusters`: DataFrame of the `reco` table (event,
    sc_xmean, sc_ymean, sc_xmin, sc_xmax, sc_ymin, sc_ymax); `window`: (xmin, xmax, ymin,
    ymax) of the reconstruction."""
    xmin, xmax, ymin, ymax = window
    report = MatchReport(clusters=len(clusters))
    by_event = {int(e): group for e, group in clusters.groupby("event")} if len(clusters) else {}
    for event, signals in truth.items():
        inside = []
        for signal in signals:
            report.signals += 1
            if xmin <= signal.x < xmax and ymin <= signal.y < ymax:
                inside.append(signal)
                report.by_kind.setdefault(signal.kind, KindCount()).injected += 1
        report.in_window += len(inside)
        group = by_event.get(int(event))
        if group is None or not inside:
            continue
        for signal, error in _match_event(inside, group, margin, radius):
            report.matched += 1
            report.by_kind[signal.kind].found += 1
            report.position_errors.append(error)
    return report


def _match_event(signals: list[Any], group: Any, margin: float,
                 radius: float) -> list[tuple[Any, float]]:
    cx = group["sc_xmean"].to_numpy()
    cy = group["sc_ymean"].to_numpy()
    x0, x1 = group["sc_xmin"].to_numpy() - margin, group["sc_xmax"].to_numpy() + margin
    y0, y1 = group["sc_ymin"].to_numpy() - margin, group["sc_ymax"].to_numpy() + margin
    candidates = []
    for i, signal in enumerate(signals):
        distance = np.hypot(cx - signal.x, cy - signal.y)
        reach = max(radius, 0.5 * float(signal.length or 0.0))
        inside = (x0 <= signal.x) & (signal.x <= x1) & (y0 <= signal.y) & (signal.y <= y1)
        for j in np.nonzero(inside | (distance <= reach))[0]:
            candidates.append((float(distance[j]), i, int(j)))
    used_signals: set[int] = set()
    used_clusters: set[int] = set()
    pairs = []
    for distance, i, j in sorted(candidates):
        if i in used_signals or j in used_clusters:
            continue
        used_signals.add(i)
        used_clusters.add(j)
        pairs.append((signals[i], distance))
    return pairs
