"""Pair the clusters of two processing passes, so a parameter change can be seen cluster by
cluster (`Database.compare_passes`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

KEYS = ("run", "camera", "event")


def match_clusters(left: pd.DataFrame, right: pd.DataFrame, a: str, b: str,
                   variables: Sequence[str], max_distance: float) -> pd.DataFrame:
    """Side by side: per (run, camera, event), the pairing of `left` and `right` clusters
    with the least total distance between (sc_xmean, sc_ymean), pairs at most
    `max_distance` apart; the rest unpaired (see `Database.compare_passes`)."""
    from scipy.optimize import linear_sum_assignment

    rows: list[tuple[int, int, int, int, int, float]] = []  # keys, left row, right row, d
    left_groups = left.groupby(list(KEYS), sort=True).indices
    right_groups = right.groupby(list(KEYS), sort=True).indices
    lx, ly = left["sc_xmean"].to_numpy(float), left["sc_ymean"].to_numpy(float)
    rx, ry = right["sc_xmean"].to_numpy(float), right["sc_ymean"].to_numpy(float)
    for key in sorted(set(left_groups) | set(right_groups)):
        li = left_groups.get(key, np.zeros(0, dtype=np.int64))
        ri = right_groups.get(key, np.zeros(0, dtype=np.int64))
        paired_l: set[int] = set()
        paired_r: set[int] = set()
        if len(li) and len(ri):
            distance = np.hypot(lx[li][:, None] - rx[ri][None, :],
                                ly[li][:, None] - ry[ri][None, :])
            cost = np.where(np.isfinite(distance) & (distance <= max_distance), distance,
                            1e12)
            for i, j in zip(*linear_sum_assignment(cost), strict=True):
                if cost[i, j] < 1e12:
                    rows.append((*key, int(li[i]), int(ri[j]), float(distance[i, j])))
                    paired_l.add(int(li[i]))
                    paired_r.add(int(ri[j]))
        rows.extend((*key, int(i), -1, np.nan) for i in li if int(i) not in paired_l)
        rows.extend((*key, -1, int(j), np.nan) for j in ri if int(j) not in paired_r)
    return _side_by_side(left, right, rows, a, b, variables)


def _side_by_side(left: pd.DataFrame, right: pd.DataFrame,
                  rows: list[tuple[int, int, int, int, int, float]], a: str, b: str,
                  variables: Sequence[str]) -> pd.DataFrame:
    table = np.array([r[:5] for r in rows], dtype=np.int64).reshape(-1, 5)
    li, ri = table[:, 3], table[:, 4]
    out = pd.DataFrame({"run": table[:, 0], "camera": table[:, 1], "event": table[:, 2]})
    out["match"] = np.where((li >= 0) & (ri >= 0), "both",
                            np.where(li >= 0, f"only_{a}", f"only_{b}"))
    out["distance"] = np.array([r[5] for r in rows], dtype=np.float64)
    for name in variables:
        for side, index, frame in ((a, li, left), (b, ri, right)):
            values = frame[name].to_numpy(dtype=np.float64) if len(frame) else np.zeros(0)
            column = np.full(len(index), np.nan)
            have = index >= 0
            column[have] = values[index[have]]
            out[f"{name}_{side}"] = column
    return out.sort_values(list(KEYS), kind="stable").reset_index(drop=True)
