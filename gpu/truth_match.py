"""Match reconstructed clusters to simulation truth (cygno_mw.simulation TrueSignal objects).

Used by the truth tests and the benchmark, and by anyone validating the reconstruction on
Monte Carlo: each true signal's light (its pixel footprint) is shared out over the clusters
whose macro-pixels cover it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .params import RecoParams
from .pipeline import ImageResult


@dataclass
class SignalMatch:
    """How one true signal came out of the reconstruction."""

    kind: str
    light_in_window: float  # footprint light inside the acceptance window (ADU)
    window_fraction: float  # light_in_window / all footprint light
    best_cluster: int  # cluster holding most of its light, -1 if none
    best_share: float  # fraction of light_in_window in best_cluster
    own_clusters: int  # clusters where it is the main contributor holding >= 5% of its light
    purity: float  # its share of best_cluster's matched light (1 = nobody else's light)
    window_length: float  # true length clipped to the window (px)
    merged_with: tuple[str, ...] = ()  # kinds of other signals whose best cluster is the same

    @property
    def found(self) -> bool:
        return self.best_share >= 0.5

    @property
    def resolved(self) -> bool:
        """Found in a cluster where it is the main contributor."""
        return self.found and self.own_clusters >= 1 and self.purity >= 0.5

    @property
    def whole(self) -> bool:
        """In one cluster: not split into several, not merged with a signal of its kind.

        (A spot lying on a track may end up in the track's cluster; that costs the spot,
        not the track.)
        """
        return (
            self.own_clusters == 1
            and self.best_share >= 0.5
            and self.kind not in self.merged_with
        )


def window_length(x0: float, y0: float, x1: float, y1: float, params: RecoParams) -> float:
    """Length of the segment (x0, y0)-(x1, y1) inside the acceptance window."""
    dx, dy = x1 - x0, y1 - y0
    t_lo, t_hi = 0.0, 1.0
    bounds = (
        (-dx, x0 - params.xmin),
        (dx, params.xmax - 1 - x0),
        (-dy, y0 - params.ymin),
        (dy, params.ymax - 1 - y0),
    )
    for p, q in bounds:
        if p == 0:
            if q < 0:
                return 0.0
            continue
        t = q / p
        if p < 0:
            t_lo = max(t_lo, t)
        else:
            t_hi = min(t_hi, t)
    return max(0.0, t_hi - t_lo) * math.hypot(dx, dy)


def light_shares(
    result: ImageResult, truth: Sequence[Any], params: RecoParams, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(light[signal, cluster], light in window per signal, all light per signal) in ADU."""
    r = params.rebin
    grid = np.full((shape[0] // r, shape[1] // r), -1, dtype=np.int64)
    hits = result.hits
    if hits:
        grid[hits["row"], hits["col"]] = hits["cluster"]
    n = result.n_clusters
    light = np.zeros((len(truth), n))
    in_window = np.zeros(len(truth))
    total = np.zeros(len(truth))
    for i, signal in enumerate(truth):
        rows, cols = np.divmod(np.asarray(signal.footprint), shape[1])
        value = np.asarray(signal.footprint_light, dtype=np.float64)
        inside = (
            (rows >= params.ymin) & (rows < params.ymax)
            & (cols >= params.xmin) & (cols < params.xmax)
        )
        cluster = grid[rows // r, cols // r]
        hit = cluster >= 0
        light[i] = np.bincount(cluster[hit], weights=value[hit], minlength=n)[:n]
        in_window[i] = value[inside].sum()
        total[i] = value.sum()
    return light, in_window, total


def match_signals(
    result: ImageResult, truth: Sequence[Any], params: RecoParams, shape: tuple[int, int]
) -> list[SignalMatch]:
    light, in_window, total = light_shares(result, truth, params, shape)
    owner = light.argmax(axis=0) if light.size else np.zeros(0, dtype=int)
    cluster_light = light.sum(axis=0)
    share_of = light / np.maximum(in_window, 1e-9)[:, None]
    best_of = [
        int(row.argmax()) if row.size and row.max() >= 0.5 else -1 for row in share_of
    ]
    matches = []
    for i, signal in enumerate(truth):
        share = share_of[i]
        best = int(share.argmax()) if share.size and share.max() > 0 else -1
        merged = tuple(
            truth[j].kind for j in range(len(truth)) if j != i and best >= 0 and best_of[j] == best
        )
        own = int(np.count_nonzero((owner == i) & (share >= 0.05))) if share.size else 0
        purity = light[i, best] / cluster_light[best] if best >= 0 else 0.0
        length = window_length(
            signal.x_start, signal.y_start, signal.x_end, signal.y_end, params
        ) if signal.kind == "muon" else float(signal.length)
        matches.append(
            SignalMatch(
                kind=signal.kind,
                light_in_window=float(in_window[i]),
                window_fraction=float(in_window[i] / max(total[i], 1e-9)),
                best_cluster=best,
                best_share=float(share[best]) if best >= 0 else 0.0,
                own_clusters=own,
                purity=float(purity),
                window_length=float(length),
                merged_with=merged,
            )
        )
    return matches
