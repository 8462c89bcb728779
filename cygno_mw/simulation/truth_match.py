"""Reconstructed clusters against the simulation's truth (TrueSignal objects).

Two views of one question, "where did each injected signal go?":

- `match_signals` / `light_shares`, per image, from a `Reconstructor`'s ImageResult: each
  true signal's light (its pixel footprint) is shared out over the clusters whose
  macro-pixels cover it.  Exact; used by the reconstruction's truth tests.
- `match_clusters`, per run, from the stored `reco` table (no pixels there): a signal
  and a cluster of the same event match when the signal's light-weighted centroid lies
  inside the cluster's extent (widened by `margin` px) or within `radius` px of its
  centroid (half the track length for long tracks); closest pairs first, each used once.
  Used by the demo and the replay's end-to-end test.

Only signals inside the acceptance window (xmin..xmax, ymin..ymax of the Reco
parameters) can be found.  This lives with the simulation because it reads its truth;
the reconstruction's types are only used, never imported at run time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cygno_mw.gpu.cluster_variables import image_frame

if TYPE_CHECKING:
    from cygno_mw.gpu.params import RecoParams
    from cygno_mw.gpu.pipeline import ImageResult


# -- per image, from the reconstructed pixels ------------------------------------------
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
    """One SignalMatch per true signal of this image, in the truth's order."""
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


# -- per run, from the stored cluster table -------------------------------------------

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
                   radius: float = 20.0, n_cols: int = 2304) -> MatchReport:
    """`truth`: event → TrueSignals; `clusters`: DataFrame of the `reco` table (event,
    sc_xmean, sc_ymean, sc_xmin, sc_xmax, sc_ymin, sc_ymax: the experiment's frame, turned
    back into image columns/rows with the frame's width `n_cols`); `window`: (xmin, xmax,
    ymin, ymax) of the reconstruction."""
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
        for signal, error in _match_event(inside, image_frame(group, n_cols), margin, radius):
            report.matched += 1
            report.by_kind[signal.kind].found += 1
            report.position_errors.append(error)
    return report


def _match_event(signals: list[Any], group: Any, margin: float,
                 radius: float) -> list[tuple[Any, float]]:
    cx = group["col_mean"].to_numpy()
    cy = group["row_mean"].to_numpy()
    x0, x1 = group["col_min"].to_numpy() - margin, group["col_max"].to_numpy() + margin
    y0, y1 = group["row_min"].to_numpy() - margin, group["row_max"].to_numpy() + margin
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
