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
- main peak (clusterShapes): scipy.signal.find_peaks(contents, distance=6, height=3,
  prominence=2, width=2) over the bins with centre inside (0, last edge), the peak with the
  largest position; its height, prominence, position (bin centre) and width (in bins);
  -999 each without a peak.
"""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached

REL_ERROR = {"l": 0.2, "t": 0.3}
FIT_FIELDS = ("gaussamp", "gaussmean", "gausssigma", "chi2", "status")
FIT_VARIABLES = tuple(f"sc_{d}{f}" for d in "lt" for f in FIT_FIELDS)
PEAK_VARIABLES = ("sc_lp0amplitude", "sc_lp0prominence", "sc_lp0fwhm", "sc_lp0mean",
                  "sc_tp0fwhm")
NO_PEAK = -999.0
PEAK_HEIGHT = 3.0
SQRT_2PI = 2.506628  # InitGaus's constant


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


def main_peak(edges: np.ndarray, content: np.ndarray) -> tuple[float, float, float, float]:
    """(amplitude, prominence, fwhm in bins, position) of the last peak, or NO_PEAKs."""
    from scipy.signal import find_peaks

    if content.size == 0 or content.max() < PEAK_HEIGHT:  # nothing reaches the height
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    centres = 0.5 * (edges[:-1] + edges[1:])
    use = (centres > 0) & (centres < edges[-1])
    y = content.astype(np.float64)[use]
    peaks, props = find_peaks(y, distance=6, height=PEAK_HEIGHT, prominence=2, width=2)
    if len(peaks) == 0:
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    k = int(np.argmax(centres[use][peaks]))
    return (float(props["peak_heights"][k]), float(props["prominences"][k]),
            float(props["widths"][k]), float(centres[use][peaks[k]]))


def _init_gaus(x: np.ndarray, y: np.ndarray, mean: float, rms: float
               ) -> tuple[list[float], float, float]:
    """ROOT's start values and sigma limits: InitGaus over the fitted bins, unless their
    sum is <= 0 (then the experiment's own: 0, mean, rms within [0.5, 1.5] rms)."""
    allcha = float(y.sum())
    if len(x) == 0 or allcha <= 0:
        return [0.0, mean, rms], 0.5 * rms, 1.5 * rms
    rangex = x[-1] - x[0]
    width = rangex if rangex > 0 else 1.0
    if len(x) > 1:
        width = min(width, float(np.diff(x).min()))
    m = float((y * x).sum()) / allcha
    var = float((y * x * x).sum()) / allcha - m * m
    r = np.sqrt(var) if var > 0 else width * len(x) / 4
    amp = 0.5 * (float(y.max()) + width * allcha / (SQRT_2PI * r))
    return [amp, m, r], 0.0, 10.0 * r


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
                  max_iter: int = 100) -> np.ndarray:
    """(amp, mean, sigma, chi2, status) per profile (edges, content, error, mean, rms): the
    chi2 over the bins with a non-zero error at their centres, minimised by lm_gauss from
    ROOT's start values within its limits."""
    out = np.zeros((len(profiles), 5))
    for i, (edges, content, error, mean, rms) in enumerate(profiles):
        if float(content.astype(np.float64).sum()) == 0.0:  # its Integral() == 0
            out[i] = (0.0, 0.0, 0.0, 999.0, -1.0)
            continue
        use = error > 0
        x = (0.5 * (edges[:-1] + edges[1:]))[use]
        y = content.astype(np.float64)[use]
        start, lo2, hi2 = _init_gaus(x, y, mean, rms)
        lower = np.array([-np.inf, mean - rms, lo2])
        upper = np.array([np.inf, mean + rms, hi2])
        p = np.clip(np.array(start, dtype=np.float64), lower, upper)
        chi2 = lm_gauss(x, y, 1.0 / error[use], p, lower, upper, max_iter)
        out[i] = (p[0], p[1], p[2], chi2, 3.0)
    return out


def fits_and_peaks(
    coords: dict[str, tuple[np.ndarray, np.ndarray]], z: np.ndarray, bounds: np.ndarray,
    stats: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """FIT_VARIABLES and PEAK_VARIABLES per cluster.

    coords: 'l'/'t' -> (turned coordinate, its offset from the cluster's minimum) per hit,
    hits grouped by cluster in the experiment's order (cluster k: bounds[k]:bounds[k+1]);
    stats: 'l'/'t' -> the profiles' GetMean and GetRMS per cluster."""
    n = len(bounds) - 1
    out = {name: np.full(n, NO_PEAK) for name in PEAK_VARIABLES}
    for d in "lt":
        coord, offset = coords[d]
        min_count = max(1, 1 / REL_ERROR[d] / REL_ERROR[d])
        profiles = []
        for k in range(n):
            lo, hi = bounds[k], bounds[k + 1]
            edges = profile_edges(coord[lo:hi], min_count)
            content, error = fill_profile(edges, offset[lo:hi], z[lo:hi])
            profiles.append((edges, content, error, stats[d][0][k], stats[d][1][k]))
            peak = main_peak(edges, content)
            if d == "l":
                for name, value in zip(PEAK_VARIABLES[:4], peak, strict=True):
                    out[name][k] = value
            else:
                out["sc_tp0fwhm"][k] = peak[2]
        fitted = fit_gaussians(profiles)
        for j, field in enumerate(FIT_FIELDS):
            out[f"sc_{d}{field}"] = fitted[:, j]
    return out
