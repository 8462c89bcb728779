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
  chi2 minimum is found here with a bounded Levenberg-Marquardt on all profiles of an image
  at once; status is 3 (Minuit's full accurate covariance) for a converged fit.  An empty
  profile (Integral() == 0) gives amp = mean = sigma = 0, chi2 = 999, status = -1.
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
SQRT_2PI = 2.506628  # InitGaus's constant


@jit_cached
def profile_edges(t: np.ndarray, min_count: float) -> np.ndarray:
    """dynamicProfileBins_v2's edges over the truncated coordinates t (int64), shifted to
    start at 0."""
    lo, hi = t.min(), t.max()
    counts = np.zeros(hi - lo + 1, dtype=np.int64)
    for v in t:
        counts[v - lo] += 1
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


def fill_profile(edges: np.ndarray, x: np.ndarray, z: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """TH1F contents (float32, filled in order) and errors of bins 1..n at fills x, z."""
    n_bins = len(edges) - 1
    bins = np.searchsorted(edges, x, side="right")  # 0 underflow, n+1 overflow
    inside = (bins >= 1) & (bins <= n_bins)
    content = np.zeros(n_bins, dtype=np.float32)
    sumw2 = np.zeros(n_bins, dtype=np.float64)
    np.add.at(content, bins[inside] - 1, z[inside].astype(np.float32))
    np.add.at(sumw2, bins[inside] - 1, z[inside] * z[inside])
    return content, np.sqrt(sumw2)


def main_peak(edges: np.ndarray, content: np.ndarray) -> tuple[float, float, float, float]:
    """(amplitude, prominence, fwhm in bins, position) of the last peak, or NO_PEAKs."""
    from scipy.signal import find_peaks

    centres = 0.5 * (edges[:-1] + edges[1:])
    use = (centres > 0) & (centres < edges[-1])
    y = content.astype(np.float64)[use]
    peaks, props = find_peaks(y, distance=6, height=3, prominence=2, width=2)
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


def fit_gaussians(profiles: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]],
                  iterations: int = 200) -> np.ndarray:
    """(amp, mean, sigma, chi2, status) per profile (edges, content, error, mean, rms).

    All profiles in one padded Levenberg-Marquardt on chi2 = sum ((y - g(x)) / e)^2 over
    the bins with e > 0, steps clipped to the limits."""
    n = len(profiles)
    out = np.zeros((n, 5))
    if n == 0:
        return out
    size = max(int((p[2] > 0).sum()) for p in profiles)
    x = np.zeros((n, max(size, 1)))
    y = np.zeros_like(x)
    inv_e = np.zeros_like(x)  # 0 pads
    start = np.zeros((n, 3))
    lower = np.full((n, 3), -np.inf)
    upper = np.full((n, 3), np.inf)
    empty = np.zeros(n, dtype=bool)
    for i, (edges, content, error, mean, rms) in enumerate(profiles):
        use = error > 0
        k = int(use.sum())
        xi = (0.5 * (edges[:-1] + edges[1:]))[use]
        yi = content.astype(np.float64)[use]
        x[i, :k], y[i, :k], inv_e[i, :k] = xi, yi, 1.0 / error[use]
        empty[i] = float(content.astype(np.float64).sum()) == 0.0
        p0, lo2, hi2 = _init_gaus(xi, yi, mean, rms)
        lower[i, 1:] = (mean - rms, lo2)
        upper[i, 1:] = (mean + rms, hi2)
        start[i] = np.clip(p0, lower[i], upper[i])
    p = start
    lam = np.full(n, 1e-3)

    def residuals(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sigma = np.maximum(q[:, 2:3], 1e-9)  # its lower limit is 0
        u = (x - q[:, 1:2]) / sigma
        g = np.exp(-0.5 * u * u)
        r = (y - q[:, 0:1] * g) * inv_e
        jac = np.stack((g, q[:, 0:1] * g * u / sigma, q[:, 0:1] * g * u * u / sigma), axis=2)
        return r, jac * inv_e[:, :, None]

    r, jac = residuals(p)
    chi2 = (r * r).sum(axis=1)
    for _ in range(iterations):
        a = np.einsum("nki,nkj->nij", jac, jac)
        b = np.einsum("nki,nk->ni", jac, r)
        diag = np.einsum("nii->ni", a)
        damped = a + lam[:, None, None] * np.eye(3)[None] * np.maximum(diag, 1e-300)[:, :, None]
        step = np.linalg.solve(damped + 1e-300 * np.eye(3)[None], b[:, :, None])[:, :, 0]
        trial = np.clip(p + step, lower, upper)
        r_t, jac_t = residuals(trial)
        chi2_t = (r_t * r_t).sum(axis=1)
        better = chi2_t < chi2
        done = np.abs(chi2 - chi2_t) <= 1e-13 * np.maximum(chi2, 1e-300)
        p = np.where(better[:, None], trial, p)
        r = np.where(better[:, None], r_t, r)
        jac = np.where(better[:, None, None], jac_t, jac)
        chi2 = np.where(better, chi2_t, chi2)
        lam = np.where(better, lam * 0.3, lam * 10.0)
        if (done | (lam > 1e12)).all():
            break
    out[:, :3], out[:, 3], out[:, 4] = p, chi2, 3.0
    out[empty] = (0.0, 0.0, 0.0, 999.0, -1.0)
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
            edges = profile_edges(np.trunc(coord[lo:hi]).astype(np.int64), min_count)
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
