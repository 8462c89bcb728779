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

Everything is host NumPy over all hits of an image at once (no loop over clusters); the
per-cluster axes come from cluster_variables (np.cov and np.linalg.eig, as the experiment).
"""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached
from .profile_fits import FIT_VARIABLES, PEAK_VARIABLES, fits_and_peaks

PEARSON_PLACEHOLDER = 999.0
PROFILE_VARIABLES = ("sc_longrms", "sc_latrms", "sc_lfullrms", "sc_tfullrms", "sc_pearson",
                     *FIT_VARIABLES, *PEAK_VARIABLES)


def experiment_hit_order(seg_points: np.ndarray, macro_x: np.ndarray, macro_y: np.ndarray,
                         rebin: int) -> np.ndarray:
    """Indices putting hits in the experiment's order (fullResHits over np.unique'd
    macro-pixels: by cluster, macro X, macro Y, then X, then Y), for hits laid out as
    cluster_variables lays them: rebin x rebin per macro-pixel, raw row by raw row.  Its Y
    runs against the raw column, so within a row the pixels go right to left."""
    points = np.lexsort((macro_y, macro_x, seg_points))
    block = np.arange(rebin * rebin)
    within = (block // rebin) * rebin + (rebin - 1 - block % rebin)
    return (points[:, None] * (rebin * rebin) + within[None, :]).ravel()


def rotated(x: np.ndarray, y: np.ndarray, ox: np.ndarray, oy: np.ndarray, cos: np.ndarray,
            sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """utilities.rotate_around_point, operation for operation (float64, no fused ops)."""
    dx, dy = x - ox, y - oy
    return ox + cos * dx + sin * dy, oy - sin * dx + cos * dy


@jit_cached
def _moments(w: np.ndarray, c: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    """Per cluster sum of w, w c and w c c (one pass)."""
    out = np.zeros((3, n))
    for i in range(w.size):
        k = seg[i]
        wc = w[i] * c[i]
        out[0, k] += w[i]
        out[1, k] += wc
        out[2, k] += wc * c[i]
    return out


def _mean_rms(w: np.ndarray, c: np.ndarray, seg: np.ndarray, n: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """ROOT's GetMean and GetRMS from signed weights w at positions c, per cluster (0, 0
    where the weights sum to 0)."""
    s0, s1, s2 = _moments(w, c, seg, n)
    safe = np.where(s0 != 0, s0, 1.0)
    mean = np.where(s0 != 0, s1 / safe, 0.0)
    return mean, np.where(s0 != 0, np.sqrt(np.maximum(s2 / safe - mean * mean, 0.0)), 0.0)


def _rms(w: np.ndarray, c: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    return _mean_rms(w, c, seg, n)[1]


def _segment_min_max(v: np.ndarray, seg: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, seg, v)
    np.maximum.at(hi, seg, v)
    return lo, hi


@jit_cached
def _last_writer(seg: np.ndarray, bx: np.ndarray, by: np.ndarray, n: int) -> np.ndarray:
    """Mask of the hits that are the last (in the given order) to set their bin: each
    cluster's bins laid out on a dense grid, written in order."""
    nx = np.zeros(n, dtype=np.int64)
    ny = np.zeros(n, dtype=np.int64)
    for i in range(seg.size):
        nx[seg[i]] = max(nx[seg[i]], bx[i] + 1)
        ny[seg[i]] = max(ny[seg[i]], by[i] + 1)
    base = np.zeros(n + 1, dtype=np.int64)
    for k in range(n):
        base[k + 1] = base[k] + nx[k] * ny[k]
    owner = np.empty(base[n], dtype=np.int64)
    cell = np.empty(seg.size, dtype=np.int64)
    for i in range(seg.size):
        cell[i] = base[seg[i]] + bx[i] * ny[seg[i]] + by[i]
        owner[cell[i]] = i
    keep = np.empty(seg.size, dtype=np.bool_)
    for i in range(seg.size):
        keep[i] = owner[cell[i]] == i
    return keep


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
    qx, qy = rotated(x, y, pivot[seg, 0], pivot[seg, 1], major[seg, 0], major[seg, 1])
    xmin, xmax = _segment_min_max(qx, seg, n)
    ymin, ymax = _segment_min_max(qy, seg, n)
    dx, dy = qx - xmin[seg], qy - ymin[seg]
    # cluth2d: last writer per rounded bin, bin centres round(d) + 0.5
    bx, by = np.round(dx), np.round(dy)
    keep = _last_writer(seg, bx.astype(np.int64), by.astype(np.int64), n)
    out["sc_longrms"] = _rms(z[keep], bx[keep] + 0.5, seg[keep], n)
    out["sc_latrms"] = _rms(z[keep], by[keep] + 0.5, seg[keep], n)
    # the profiles: Fill statistics of the in-range fills
    top_x = (np.trunc(xmax) - np.trunc(xmin))[seg]
    top_y = (np.trunc(ymax) - np.trunc(ymin))[seg]
    in_x, in_y = dx < top_x, dy < top_y
    mean_x, out["sc_lfullrms"] = _mean_rms(z[in_x], dx[in_x], seg[in_x], n)
    mean_y, out["sc_tfullrms"] = _mean_rms(z[in_y], dy[in_y], seg[in_y], n)
    bounds = np.searchsorted(seg, np.arange(n + 1))
    out.update(fits_and_peaks({"l": (qx, dx), "t": (qy, dy)}, z, bounds,
                              {"l": (mean_x, out["sc_lfullrms"]),
                               "t": (mean_y, out["sc_tfullrms"])}))
    return out
