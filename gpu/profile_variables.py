"""The experiment's profile variables of a cluster, by its own arithmetic (issue 23).

CYGNUS-RD/reconstruction's clusterTools.Cluster.calcProfiles turns each hit of a cluster
(X = row, Y = mirrored column, light z) about the cluster's macro-pixel mean with the major
eigenvector (cos, sin) of its np.cov matrix:

    qx = ox + cos (x - ox) + sin (y - oy),   qy = oy - sin (x - ox) + cos (y - oy)

and histograms the hits with ROOT.  What its tree keeps of those histograms is reproduced
here in NumPy, following ROOT's documented rules:

- sc_longrms / sc_latrms: `cluth2d.ProjectionX/Y().GetRMS()`.  cluth2d is a TH2D of 1-px
  bins starting at 0; each hit *sets* (SetBinContent, not Fill) bin (round(qx - min qx),
  round(qy - min qy)) (np.round: half to even) to its z, so of the hits that round to the
  same bin the last one in the experiment's hit order wins (macro-pixels sorted by X then
  Y, each macro-pixel's pixels by X then Y).  SetBinContent resets the statistics, so
  GetRMS comes from the bins: centres b + 0.5, weights the projected contents (signed),
  sqrt(max(<c^2> - <c>^2, 0)), 0 when the weights sum to 0.
- sc_lfullrms / sc_tfullrms: `GetRMS()` of the longitudinal / transverse profile, a TH1F
  that each hit Fills at qx - min qx with weight z.  Fill keeps the statistics from the
  filled values themselves (not bin centres) and skips under/overflow: the profile's upper
  edge is trunc(max qx) - trunc(min qx) (utilities.dynamicProfileBins_v2 works on int()
  of the coordinates), so hits at or beyond it do not count.
- sc_pearson: its tree's constant placeholder (snakes.py sets `cl.pearson = 999`).
- the profiles' Gaussian fits and main peaks: profile_fits.

On the host for every backend: one compiled pass over the hits of an image
(`turned_moments`), then per profile the fits and peaks; the per-cluster axes come from
cluster_variables (np.cov and np.linalg.eig, as the experiment).
"""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached
from .profile_fits import FIT_VARIABLES, PEAK_VARIABLES, fits_and_peaks

PEARSON_PLACEHOLDER = 999.0
PROFILE_VARIABLES = ("sc_longrms", "sc_latrms", "sc_lfullrms", "sc_tfullrms", "sc_pearson",
                     *FIT_VARIABLES, *PEAK_VARIABLES)


def experiment_hits(row: np.ndarray, col: np.ndarray, seg_points: np.ndarray, z: np.ndarray,
                    rebin: int, n_cols: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hits (x, y, z, cluster) in the experiment's frame and order (fullResHits over
    np.unique'd macro-pixels: by cluster, macro X, macro Y, then X, then Y), from the
    macro-pixels (row, col) and the light z of hits laid out as cluster_variables lays
    them: rebin x rebin per macro-pixel, raw row by raw row.  Its Y runs against the raw
    column, so within a row the pixels go right to left."""
    points = np.lexsort(((n_cols // rebin - 1) - col, row, seg_points))
    return _gather_hits(points, row, col, seg_points, z, rebin, n_cols)


@jit_cached
def _gather_hits(points: np.ndarray, row: np.ndarray, col: np.ndarray, seg_points: np.ndarray,
                 z: np.ndarray, rebin: int, n_cols: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """experiment_hits' copy, in one compiled pass over the points in their new order."""
    per = rebin * rebin
    n_hits = points.size * per
    x, y, zo = np.empty(n_hits), np.empty(n_hits), np.empty(n_hits)
    seg = np.empty(n_hits, dtype=np.int64)
    h = 0
    for p in points:
        for dr in range(rebin):
            for dc in range(rebin - 1, -1, -1):
                x[h] = np.float64(row[p] * rebin + dr)
                y[h] = np.float64((n_cols - 1) - (col[p] * rebin + dc))
                zo[h] = z[p * per + dr * rebin + dc]
                seg[h] = seg_points[p]
                h += 1
    return x, y, zo, seg


@jit_cached
def turned_moments(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, bounds: np.ndarray, pivot: np.ndarray,
    major: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per hit the turned coordinates qx, qy (rotate_around_point, operation for operation)
    and their offsets dx, dy from the cluster's minimum; per cluster the (sum w, sum w c,
    sum w c c) of: cluth2d's X and Y projections (last writer per rounded bin, c = bin
    centre) and the two profiles' in-range fills (c = offset).  Hits grouped by cluster in
    the experiment's order (cluster k: bounds[k]:bounds[k+1])."""
    n_hits, n = x.size, bounds.size - 1
    qx, qy = np.empty(n_hits), np.empty(n_hits)
    dx, dy = np.empty(n_hits), np.empty(n_hits)
    moments = np.zeros((4, 3, n))
    for k in range(n):
        lo, hi = bounds[k], bounds[k + 1]
        if hi == lo:
            continue
        ox, oy, c, s = pivot[k, 0], pivot[k, 1], major[k, 0], major[k, 1]
        x_lo, x_hi, y_lo, y_hi = np.inf, -np.inf, np.inf, -np.inf
        for i in range(lo, hi):
            ex, ey = x[i] - ox, y[i] - oy
            qx[i] = ox + c * ex + s * ey
            qy[i] = oy - s * ex + c * ey
            x_lo, x_hi = min(x_lo, qx[i]), max(x_hi, qx[i])
            y_lo, y_hi = min(y_lo, qy[i]), max(y_hi, qy[i])
        top_x = np.trunc(x_hi) - np.trunc(x_lo)  # the profiles' last edges
        top_y = np.trunc(y_hi) - np.trunc(y_lo)
        nbx = nby = 0
        for i in range(lo, hi):
            dx[i], dy[i] = qx[i] - x_lo, qy[i] - y_lo
            nbx = max(nbx, int(np.rint(dx[i])) + 1)  # np.round: half to even
            nby = max(nby, int(np.rint(dy[i])) + 1)
        owner = np.empty(nbx * nby, dtype=np.int64)
        for i in range(lo, hi):
            owner[int(np.rint(dx[i])) * nby + int(np.rint(dy[i]))] = i
        for i in range(lo, hi):
            bx, by = np.rint(dx[i]), np.rint(dy[i])
            w = z[i]
            if owner[int(bx) * nby + int(by)] == i:
                for m, centre in ((0, bx + 0.5), (1, by + 0.5)):
                    wc = w * centre
                    moments[m, 0, k] += w
                    moments[m, 1, k] += wc
                    moments[m, 2, k] += wc * centre
            if dx[i] < top_x:
                wc = w * dx[i]
                moments[2, 0, k] += w
                moments[2, 1, k] += wc
                moments[2, 2, k] += wc * dx[i]
            if dy[i] < top_y:
                wc = w * dy[i]
                moments[3, 0, k] += w
                moments[3, 1, k] += wc
                moments[3, 2, k] += wc * dy[i]
    return qx, qy, dx, dy, moments


def _mean_rms(s0: np.ndarray, s1: np.ndarray, s2: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """ROOT's GetMean and GetRMS from the sums of signed weights w, w c, w c c (0, 0 where
    the weights sum to 0)."""
    safe = np.where(s0 != 0, s0, 1.0)
    mean = np.where(s0 != 0, s1 / safe, 0.0)
    return mean, np.where(s0 != 0, np.sqrt(np.maximum(s2 / safe - mean * mean, 0.0)), 0.0)


def profile_variables(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, seg: np.ndarray, n: int,
    pivot: np.ndarray, major: np.ndarray,
) -> dict[str, np.ndarray]:
    """The variables above for hits already in the experiment's order.

    x, y: hit coordinates in its frame (float64); z: light; seg: cluster of each hit;
    pivot: (n, 2) macro-pixel means (its mean_point); major: (n, 2) its EVs[0]."""
    out = {name: np.zeros(n) for name in PROFILE_VARIABLES}
    out["sc_pearson"][:] = PEARSON_PLACEHOLDER
    if len(z) == 0 or n == 0:
        return out
    bounds = np.searchsorted(seg, np.arange(n + 1))
    qx, qy, dx, dy, moments = turned_moments(x, y, z, bounds, pivot, major)
    _, out["sc_longrms"] = _mean_rms(*moments[0])
    _, out["sc_latrms"] = _mean_rms(*moments[1])
    mean_x, out["sc_lfullrms"] = _mean_rms(*moments[2])
    mean_y, out["sc_tfullrms"] = _mean_rms(*moments[3])
    out.update(fits_and_peaks({"l": (qx, dx), "t": (qy, dy)}, z, bounds,
                              {"l": (mean_x, out["sc_lfullrms"]),
                               "t": (mean_y, out["sc_tfullrms"])}))
    return out
