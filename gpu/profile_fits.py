"""The experiment's profile histograms, Gaussian fits and main peaks (issue 23).

CYGNUS-RD/reconstruction's clusterTools.Cluster.calcProfiles fills, per cluster, a
longitudinal and a transverse profile: TH1F with variable bins from
utilities.dynamicProfileBins_v2 (relative error 0.2 along, 0.3 across), each hit filled at
its turned coordinate minus the minimum with weight z.  Reproduced in NumPy, following
ROOT's documented rules:

- bins: over t = trunc(coordinate), lo = min t, hi = max t, a bin edge is opened at lo, then
  walking v = lo .. hi-1 the count of hits with t = v is added while the running count is
  below 1/relError^2, and otherwise v becomes an edge and the count restarts at 0 (that
  value's own hits are not counted: its loop); the last edge is hi; edges are shifted by -lo.
- contents: TH1F keeps float32 bins, each Fill adding float32(z) in fill order; errors
  sqrt(sum z^2) (a weight != 1 turns Sumw2 on); a fill at or past the last edge is
  overflow.
- fit (fitProfile): `hist.Fit(TF1 gaus, 'SQ')` with parameter 1 limited to mean +- rms and
  2 to [0.5, 1.5] rms.  Without option 'B', ROOT's InitGaus overwrites the start values
  from the fitted bins and the limits of parameter 2 with [0, 10 rms_bins]; without 'R' the
  fit takes every bin with a non-zero error, at its centre (checked against ROOT 6.40).  The
  chi2 minimum is found here with a compiled bounded Levenberg-Marquardt; status is 3
  (Minuit's full accurate covariance) for a converged fit.  An empty profile
  (Integral() == 0) gives amp = mean = sigma = 0, chi2 = 999, status = -1.
- main peak (clusterShapes): profile_peaks.  All clusters of an image in one compiled call
  per direction (profiles_of_image), scipy's own find_peaks only on height ties.
"""

from __future__ import annotations

import numpy as np

from .cpu_clustering import pairwise_sum64
from .cpu_kernels import jit_cached
from .profile_peaks import (
    NO_PEAK,
    PEAK_HEIGHT,
    last_peak,
    main_peak,  # noqa: F401  (its home before profile_peaks)
    scipy_main_peak,
)

REL_ERROR = {"l": 0.2, "t": 0.3}
FIT_FIELDS = ("gaussamp", "gaussmean", "gausssigma", "chi2", "status")
FIT_VARIABLES = tuple(f"sc_{d}{f}" for d in "lt" for f in FIT_FIELDS)
PEAK_VARIABLES = ("sc_lp0amplitude", "sc_lp0prominence", "sc_lp0fwhm", "sc_lp0mean",
                  "sc_tp0fwhm")
SQRT_2PI = 2.506628  # InitGaus's constant
MAX_ITER = 100  # lm_gauss's iterations at most


@jit_cached
def profile_edges(coord: np.ndarray, min_count: float) -> np.ndarray:
    """dynamicProfileBins_v2's edges over int() of the coordinates, shifted to start at 0."""
    lo = hi = np.int64(np.trunc(coord[0]))
    for v in coord:
        t = np.int64(np.trunc(v))
        lo, hi = min(lo, t), max(hi, t)
    counts = np.zeros(hi - lo + 1, dtype=np.int64)
    for v in coord:
        counts[np.int64(np.trunc(v)) - lo] += 1
    edges = np.empty(hi - lo + 2, dtype=np.float64)
    edges[0] = 0.0
    n = 1
    running = 0
    for v in range(lo, hi):
        if running < min_count:
            running += counts[v - lo]
        else:
            edges[n] = v - lo
            n += 1
            running = 0
    edges[n] = hi - lo
    return edges[: n + 1]


@jit_cached
def fill_profile(edges: np.ndarray, x: np.ndarray, z: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """TH1F contents (float32, filled in order) and errors of bins 1..n at fills x >= 0, z.

    The edges are whole numbers from 0, so every x in [v, v + 1) falls in the same bin: a
    table by floor(x) replaces the binary search; x at or past the last edge is overflow."""
    n_bins = edges.size - 1
    top = int(edges[-1])
    which = np.empty(top, dtype=np.int64)
    b = 0
    for v in range(top):
        while edges[b + 1] <= v:
            b += 1
        which[v] = b
    content = np.zeros(n_bins, dtype=np.float32)
    sumw2 = np.zeros(n_bins, dtype=np.float64)
    for i in range(x.size):
        if x[i] < edges[-1]:
            k = which[int(x[i])]
            content[k] += np.float32(z[i])
            sumw2[k] += z[i] * z[i]
    return content, np.sqrt(sumw2)


@jit_cached
def _clip(v: float, lo: float, hi: float) -> float:
    """np.clip of one value (NaN in, NaN out)."""
    if np.isnan(v) or np.isnan(lo):
        return np.nan
    v = max(v, lo)
    return np.nan if np.isnan(hi) else min(v, hi)


@jit_cached
def _fit_one(edges: np.ndarray, content: np.ndarray, error: np.ndarray, mean: float,
             rms: float, max_iter: int) -> tuple[float, float, float, float, float]:
    """(amp, mean, sigma, chi2, status) of one profile: the chi2 over the bins with a
    non-zero error at their centres, minimised by lm_gauss from ROOT's start values within
    its limits.  Start values: ROOT's InitGaus over the fitted bins, unless their sum is
    <= 0 (then the experiment's own: 0, mean, rms within [0.5, 1.5] rms); NumPy's
    summation order throughout (pairwise_sum64)."""
    if pairwise_sum64(content.astype(np.float64)) == 0.0:  # its Integral() == 0
        return 0.0, 0.0, 0.0, 999.0, -1.0
    m = 0
    for k in range(error.size):
        m += error[k] > 0
    x, y, w = np.empty(m), np.empty(m), np.empty(m)
    j = 0
    for k in range(error.size):
        if error[k] > 0:
            x[j] = 0.5 * (edges[k] + edges[k + 1])
            y[j] = np.float64(content[k])
            w[j] = 1.0 / error[k]
            j += 1
    allcha = pairwise_sum64(y)
    if m == 0 or allcha <= 0:
        a0, m0, r0, lo2, hi2 = 0.0, mean, rms, 0.5 * rms, 1.5 * rms
    else:
        rangex = x[-1] - x[0]
        width = rangex if rangex > 0 else 1.0
        for k in range(1, m):
            width = min(width, x[k] - x[k - 1])
        yx = y * x
        m0 = pairwise_sum64(yx) / allcha
        var = pairwise_sum64(yx * x) / allcha - m0 * m0
        r0 = np.sqrt(var) if var > 0 else width * m / 4
        a0 = 0.5 * (y.max() + width * allcha / (SQRT_2PI * r0))
        lo2, hi2 = 0.0, 10.0 * r0
    lower = np.array([-np.inf, mean - rms, lo2])
    upper = np.array([np.inf, mean + rms, hi2])
    p = np.empty(3)
    p[0] = _clip(a0, lower[0], upper[0])
    p[1] = _clip(m0, lower[1], upper[1])
    p[2] = _clip(r0, lower[2], upper[2])
    chi2 = lm_gauss(x, y, w, p, lower, upper, max_iter)
    return p[0], p[1], p[2], chi2, 3.0


@jit_cached
def _chi2(x: np.ndarray, y: np.ndarray, w: np.ndarray, amp: float, mean: float,
          sigma: float) -> float:
    s = max(sigma, 1e-9)  # its lower limit is 0
    total = 0.0
    for k in range(x.size):
        u = (x[k] - mean) / s
        r = (y[k] - amp * np.exp(-0.5 * u * u)) * w[k]
        total += r * r
    return total


@jit_cached
def _solve3(d0: float, d1: float, d2: float, a01: float, a02: float, a12: float,
            b0: float, b1: float, b2: float, fix1: bool, fix2: bool
            ) -> tuple[float, float, float, bool]:
    """The symmetric 3x3 system by Cramer's rule, parameters 1 and/or 2 held fixed."""
    if fix1:
        d1, a01, a12, b1 = 1.0, 0.0, 0.0, 0.0
    if fix2:
        d2, a02, a12, b2 = 1.0, 0.0, 0.0, 0.0
    det = (d0 * (d1 * d2 - a12 * a12) - a01 * (a01 * d2 - a12 * a02)
           + a02 * (a01 * a12 - d1 * a02))
    if det == 0 or not np.isfinite(det):
        return 0.0, 0.0, 0.0, False
    s0 = (b0 * (d1 * d2 - a12 * a12) - a01 * (b1 * d2 - a12 * b2)
          + a02 * (b1 * a12 - d1 * b2)) / det
    s1 = (d0 * (b1 * d2 - b2 * a12) - b0 * (a01 * d2 - a12 * a02)
          + a02 * (a01 * b2 - b1 * a02)) / det
    s2 = (d0 * (d1 * b2 - a12 * b1) - a01 * (a01 * b2 - b1 * a02)
          + b0 * (a01 * a12 - d1 * a02)) / det
    return s0, s1, s2, True


@jit_cached
def lm_gauss(x: np.ndarray, y: np.ndarray, w: np.ndarray, p: np.ndarray,
             lower: np.ndarray, upper: np.ndarray, max_iter: int) -> float:
    """Bounded Levenberg-Marquardt for chi2 = sum ((y - p0 exp(-(x-p1)^2 / 2 p2^2)) w)^2:
    steps clipped to [lower, upper], a parameter at a limit held there while the step
    points out; p is updated in place; returns the chi2."""
    lam = 1e-3
    chi2 = _chi2(x, y, w, p[0], p[1], p[2])
    for _ in range(max_iter):
        s = max(p[2], 1e-9)
        a00 = a01 = a02 = a11 = a12 = a22 = 0.0
        b0 = b1 = b2 = 0.0
        for k in range(x.size):
            u = (x[k] - p[1]) / s
            g = np.exp(-0.5 * u * u)
            r = (y[k] - p[0] * g) * w[k]
            j0 = g * w[k]
            j1 = p[0] * j0 * u / s
            j2 = j1 * u
            a00 += j0 * j0
            a01 += j0 * j1
            a02 += j0 * j2
            a11 += j1 * j1
            a12 += j1 * j2
            a22 += j2 * j2
            b0 += j0 * r
            b1 += j1 * r
            b2 += j2 * r
        d0, d1, d2 = a00 * (1 + lam), a11 * (1 + lam), a22 * (1 + lam)
        s0, s1, s2, ok = _solve3(d0, d1, d2, a01, a02, a12, b0, b1, b2, False, False)
        # a parameter at a limit that the step pushes out stays there (active set)
        fix1 = (p[1] <= lower[1] and s1 < 0) or (p[1] >= upper[1] and s1 > 0)
        fix2 = (p[2] <= lower[2] and s2 < 0) or (p[2] >= upper[2] and s2 > 0)
        if ok and (fix1 or fix2):
            s0, s1, s2, ok = _solve3(d0, d1, d2, a01, a02, a12, b0, b1, b2, fix1, fix2)
        if not ok:
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        t0 = min(max(p[0] + s0, lower[0]), upper[0])
        t1 = min(max(p[1] + s1, lower[1]), upper[1])
        t2 = min(max(p[2] + s2, lower[2]), upper[2])
        trial = _chi2(x, y, w, t0, t1, t2)
        if trial < chi2:
            gain = chi2 - trial
            p[0], p[1], p[2] = t0, t1, t2
            chi2 = trial
            lam *= 0.3
            if gain <= 1e-10 * chi2:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    return chi2


def fit_gaussians(profiles: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]],
                  max_iter: int = MAX_ITER) -> np.ndarray:
    """(amp, mean, sigma, chi2, status) per profile (edges, content, error, mean, rms)."""
    out = np.zeros((len(profiles), 5))
    for i, (edges, content, error, mean, rms) in enumerate(profiles):
        out[i] = _fit_one(edges, content, error, float(mean), float(rms), max_iter)
    return out


@jit_cached
def profiles_of_image(coord: np.ndarray, offset: np.ndarray, z: np.ndarray,
                      bounds: np.ndarray, mean: np.ndarray, rms: np.ndarray,
                      min_count: float, max_iter: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's profiles of every cluster of an image in one compiled call: per
    cluster its fit (_fit_one), its main peak (last_peak: amplitude, prominence, fwhm,
    position, or NO_PEAKs) and whether that peak needs scipy (a tie, see last_peak)."""
    n = bounds.size - 1
    fits = np.zeros((n, 5))
    peaks = np.full((n, 4), NO_PEAK)
    ask_scipy = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        lo, hi = bounds[k], bounds[k + 1]
        edges = profile_edges(coord[lo:hi], min_count)
        content, error = fill_profile(edges, offset[lo:hi], z[lo:hi])
        fits[k] = _fit_one(edges, content, error, mean[k], rms[k], max_iter)
        if content.size == 0 or content.max() < PEAK_HEIGHT:
            continue
        last = edges[-1]
        m = 0
        for b in range(content.size):
            c = 0.5 * (edges[b] + edges[b + 1])
            m += (c > 0) & (c < last)
        y, centres = np.empty(m), np.empty(m)
        j = 0
        for b in range(content.size):
            c = 0.5 * (edges[b] + edges[b + 1])
            if c > 0 and c < last:
                y[j], centres[j] = np.float64(content[b]), c
                j += 1
        at, height, prominence, width, exact = last_peak(y, PEAK_HEIGHT, 6, 2.0, 2.0)
        if not exact:
            ask_scipy[k] = True
        elif at >= 0:
            peaks[k, 0], peaks[k, 1], peaks[k, 2], peaks[k, 3] = (
                height, prominence, width, centres[at])
    return fits, peaks, ask_scipy


def fits_and_peaks(
    coords: dict[str, tuple[np.ndarray, np.ndarray]], z: np.ndarray, bounds: np.ndarray,
    stats: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """FIT_VARIABLES and PEAK_VARIABLES per cluster.

    coords: 'l'/'t' -> (turned coordinate, its offset from the cluster's minimum) per hit,
    hits grouped by cluster in the experiment's order (cluster k: bounds[k]:bounds[k+1]);
    stats: 'l'/'t' -> the profiles' GetMean and GetRMS per cluster."""
    out: dict[str, np.ndarray] = {}
    for d in "lt":
        coord, offset = coords[d]
        min_count = max(1, 1 / REL_ERROR[d] / REL_ERROR[d])
        mean, rms = (np.ascontiguousarray(a, dtype=np.float64) for a in stats[d])
        fits, peaks, ask_scipy = profiles_of_image(coord, offset, z, bounds, mean, rms,
                                                   float(min_count), MAX_ITER)
        for k in np.flatnonzero(ask_scipy):
            lo, hi = bounds[k], bounds[k + 1]
            edges = profile_edges(coord[lo:hi], min_count)
            peaks[k] = scipy_main_peak(edges, fill_profile(edges, offset[lo:hi], z[lo:hi])[0])
        if d == "l":
            for j, name in enumerate(PEAK_VARIABLES[:4]):
                out[name] = np.ascontiguousarray(peaks[:, j])
        else:
            out["sc_tp0fwhm"] = np.ascontiguousarray(peaks[:, 2])
        for j, field in enumerate(FIT_FIELDS):
            out[f"sc_{d}{field}"] = np.ascontiguousarray(fits[:, j])
    return {name: out[name] for name in (*PEAK_VARIABLES, *FIT_VARIABLES)}
