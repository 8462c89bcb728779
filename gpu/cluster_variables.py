"""Step 7: per-cluster variables on the full-resolution hits, with the experiment's meanings.

A column with the name of a variable of the experiment's reco tree (CYGNUS-RD/reconstruction,
`sc_*` branches) has that variable's meaning, frame and corrections, so that an existing
analysis macro gives the same answer on our tables; where we compute something else the
column has a name of its own.  README "Reconstruction variables" has the full table.

Hits: all rebin x rebin full-resolution pixels of a cluster's macro-pixels; value v = raw -
pedestal, *not* zero-suppressed (the experiment's `hits_fr`); z = v / acceptance (the
vignetting-corrected light, z = v without a map).  `sc_nhits` counts the hits that pass the
zero suppression.

Frame (the experiment's): the image mirrored left-right, X along the rows and Y along the
mirrored columns: X = row, Y = (n_cols - 1) - column, in full-resolution pixels (2303 - column
on LIME).  `image_frame` converts back to image columns/rows for drawing.

- sc_integral: sum of z (vignetting-corrected light); sc_rawintegral (ours): sum of v.
- sc_corrintegral: sum over hits of the experiment's saturation polynomial a z^2 + b z + c
  (SATURATION_POLY), what its tree holds with its saturation correction switched off.
- sc_size / sc_nhits: number of hits / of zero-suppression-passing hits.
- sc_rms: standard deviation of z over the hits.
- sc_xmean, sc_ymean: centroid weighted by max(z, 0); sc_xmin..sc_ymax: hit extent.
- sc_theta: the experiment's angle, reproduced: degrees of atan2 of the *first* eigenvector
  np.linalg.eig returns for np.cov of the macro-pixels in its frame and order (unsorted:
  the major or the minor axis), in (-180, 180].  sc_theta_major (ours): the major axis,
  from +X towards +Y, in (-90, 90].
- sc_length / sc_width: extent of the hits along the major / minor axis (the experiment's).
- sc_longwrms / sc_latwrms (ours): RMS along the axes weighted by max(z, 0).
- sc_xycorr (ours): the max(z, 0)-weighted X-Y correlation coefficient.
- sc_lprofsigma / sc_tprofsigma (ours): Gaussian sigma of the longitudinal / transverse
  profile (mean z per 1-pixel slice), from a log-parabola fit (Caruana) weighted by the
  squared content over slices above 20% of the peak; NaN when the profile is not peaked.
- the experiment's profile variables (sc_longrms, sc_latrms, sc_lfullrms, sc_tfullrms,
  sc_pearson, the profile fits and peaks): profile_variables and profile_fits, by its own
  arithmetic.

The sums are segment arithmetic (bincount, scatter min/max) on `backend.xp`; sc_theta's
np.cov (one call per cluster, as the experiment) and the profile variables run on the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend
from .directional import principal_axes
from .profile_variables import PROFILE_VARIABLES, experiment_hits, profile_variables
from .zero_suppression import pedestal_subtracted

CLUSTER_VARIABLES = (
    # the experiment's names and meanings
    "sc_integral",
    "sc_corrintegral",
    "sc_nhits",
    "sc_size",
    "sc_rms",
    "sc_xmean",
    "sc_ymean",
    "sc_xmin",
    "sc_xmax",
    "sc_ymin",
    "sc_ymax",
    "sc_theta",
    "sc_length",
    "sc_width",
    *PROFILE_VARIABLES,
    # ours
    "sc_rawintegral",
    "sc_theta_major",
    "sc_longwrms",
    "sc_latwrms",
    "sc_xycorr",
    "sc_lprofsigma",
    "sc_tprofsigma",
)


def _saturation_poly() -> tuple[float, float, float]:
    """(a, b, c) of the experiment's per-pixel saturation model a z^2 + b z + c (photons).

    From its charge-density fit: slope a0 = 0.1855 above sigma0 = 2.5 pC/mm^2, converted to
    photons per pixel with the electron charge, the pixel area (0.015625 mm^2), the camera's
    solid angle (1.8e-4) and the gas's light yield (0.08)."""
    e, area, omega, alpha, sigma0, a0 = 1.60217662e-7, 0.015625, 0.00018, 0.08, 2.5, 0.1855
    scale = area * alpha * omega / e  # photons per (pC/mm^2)
    return a0 / scale, 1.0 - 2.0 * a0 * sigma0, a0 * sigma0 * sigma0 * scale


SATURATION_POLY = _saturation_poly()

PROFILE_FIT_FRACTION = 0.2


def empty_variables() -> dict[str, np.ndarray]:
    return {name: np.zeros(0, dtype=np.float64) for name in CLUSTER_VARIABLES}


# per-cluster sums over the hits, in this order (columns of the compiled kernel's output)
HIT_SUMS = (
    "size", "nhits", "integral", "corrintegral", "zz", "w",
    "w_x", "x", "w_y", "y", "w_along", "along", "w_across", "across",
    "w_along2", "along2", "w_across2", "across2", "w_xy", "xy", "w_xx", "xx", "w_yy", "yy",
)


def cluster_variables(
    rows: Any,
    cols: Any,
    labels: Any,
    n_clusters: int,
    frame: Any,
    pedestal: Any,
    threshold: Any,
    vignette: Any | None,
    cimax: int,
    rebin: int,
    backend: Backend,
) -> dict[str, np.ndarray]:
    """All sc_* variables (host float64 arrays of length n_clusters)."""
    xp = backend.xp
    if n_clusters == 0:
        return empty_variables()
    idx = xp.nonzero(labels >= 0)[0]  # row-major order on both backends
    seg_points = labels[idx].astype(xp.int64)
    prow, pcol = rows[idx], cols[idx]
    n = n_clusters

    # principal axes of the unweighted hit distribution (= of the macro-pixel centres)
    centre = (rebin - 1) / 2.0
    mx, my, _, _, cos, sin = principal_axes(
        pcol * rebin + centre, prow * rebin + centre, seg_points, n, backend
    )
    args = (prow, pcol, seg_points, n, frame, pedestal, threshold, vignette, cimax, rebin,
            mx, my, cos, sin)
    if backend.compiled:
        sums, extremes, along, across, v, seg = _hit_sums_compiled(*args)
    else:
        sums, extremes, along, across, v, seg = _hit_sums_arrays(*args, backend)
    along_min, along_max, across_min, across_max = extremes

    out: dict[str, Any] = {}
    size = sums["size"]
    out["sc_size"] = size
    out["sc_nhits"] = sums["nhits"]
    light = sums["corrintegral"] if vignette is not None else sums["integral"]  # sum of z
    out["sc_integral"] = light
    out["sc_rawintegral"] = sums["integral"]
    a, b, c = SATURATION_POLY
    out["sc_corrintegral"] = a * sums["zz"] + b * light + c * size
    mean_z = light / size
    out["sc_rms"] = xp.sqrt(xp.maximum(sums["zz"] / size - mean_z**2, 0.0))

    wsum = sums["w"]
    has_w = wsum > 0
    wnorm = xp.where(has_w, wsum, 1.0)

    def wmean(q: str) -> Any:
        return xp.where(has_w, sums["w_" + q] / wnorm, sums[q] / size)

    # the experiment's frame: X = row, Y = last column - column
    last_col = float(frame.shape[1] - 1)
    mean_col, mean_row = wmean("x"), wmean("y")
    out["sc_xmean"] = mean_row
    out["sc_ymean"] = last_col - mean_col
    big = float(2**31)
    col_min = backend.segment_min(pcol * rebin, seg_points, n, big).astype(xp.float64)
    col_max = backend.segment_max(pcol * rebin + rebin - 1, seg_points, n, -1)
    out["sc_xmin"] = backend.segment_min(prow * rebin, seg_points, n, big).astype(xp.float64)
    out["sc_xmax"] = backend.segment_max(prow * rebin + rebin - 1, seg_points, n, -1)
    out["sc_xmax"] = out["sc_xmax"].astype(xp.float64)
    out["sc_ymin"] = last_col - col_max.astype(xp.float64)
    out["sc_ymax"] = last_col - col_min

    n_macro_cols = frame.shape[1] // rebin
    theta, ev_major, pivot = _experiment_theta(prow, pcol, seg_points, n, n_macro_cols, backend)
    out["sc_theta"] = xp.asarray(theta)
    # major axis (cos, sin) along (column, row) is (sin, -cos) along (X, Y)
    major = xp.arctan2(-cos, sin)
    major = xp.where(major <= -np.pi / 2, major + np.pi, major)
    major = xp.where(major > np.pi / 2, major - np.pi, major)
    out["sc_theta_major"] = xp.degrees(major)
    out["sc_length"] = along_max - along_min
    out["sc_width"] = across_max - across_min

    mean_along, mean_across = wmean("along"), wmean("across")
    out["sc_longwrms"] = xp.sqrt(xp.maximum(wmean("along2") - mean_along**2, 0.0))
    out["sc_latwrms"] = xp.sqrt(xp.maximum(wmean("across2") - mean_across**2, 0.0))
    cov = wmean("xy") - mean_col * mean_row
    var_x = wmean("xx") - mean_col**2
    var_y = wmean("yy") - mean_row**2
    denom = xp.sqrt(xp.maximum(var_x * var_y, 0.0))
    # Y runs against the column: the correlation of (X, Y) is minus that of (column, row)
    out["sc_xycorr"] = xp.where(denom > 0, -cov / xp.where(denom > 0, denom, 1.0), 0.0)

    out["sc_lprofsigma"] = profile_sigma(along - along_min[seg], v, seg, n, backend)
    out["sc_tprofsigma"] = profile_sigma(across - across_min[seg], v, seg, n, backend)
    host = {name: backend.to_host(out[name]).astype(np.float64)
            for name in CLUSTER_VARIABLES if name in out}
    host.update(_experiment_profiles(prow, pcol, seg_points, v, n, rebin, frame.shape[1],
                                     ev_major, pivot, backend))
    return {name: host[name] for name in CLUSTER_VARIABLES}


def _experiment_profiles(
    prow: Any, pcol: Any, seg_points: Any, z: Any, n: int, rebin: int, n_cols: int,
    major: np.ndarray, pivot: np.ndarray, backend: Backend,
) -> dict[str, np.ndarray]:
    """profile_variables on the hits in the experiment's frame and order (on the host)."""
    r, c, s = (backend.to_host(a).astype(np.int64) for a in (prow, pcol, seg_points))
    x, y, z_hits, seg = experiment_hits(r, c, s, np.ascontiguousarray(backend.to_host(z)),
                                        rebin, n_cols)
    return profile_variables(x, y, z_hits, seg, n, pivot, major)


def _hit_sums_arrays(
    prow: Any, pcol: Any, seg_points: Any, n: int, frame: Any, pedestal: Any, threshold: Any,
    vignette: Any | None, cimax: int, rebin: int, mx: Any, my: Any, cos: Any, sin: Any,
    backend: Backend,
) -> tuple[dict[str, Any], tuple[Any, Any, Any, Any], Any, Any, Any, Any]:
    """HIT_SUMS per cluster, (along, across) min and max, and per hit along, across, light z
    and cluster: array code on backend.xp (the GPU path and the CPU reference)."""
    xp = backend.xp
    block = np.arange(rebin * rebin)
    d_row = xp.asarray(block // rebin)[None, :]
    d_col = xp.asarray(block % rebin)[None, :]
    hr = (prow[:, None] * rebin + d_row).ravel()
    hc = (pcol[:, None] * rebin + d_col).ravel()
    seg = xp.repeat(seg_points, rebin * rebin)
    raw = frame[hr, hc]
    value = pedestal_subtracted(raw, pedestal[hr, hc], cimax, xp)
    active = (raw < cimax) & (value > threshold[hr, hc]) & (value > 0)
    v = value.astype(xp.float64)
    z = v if vignette is None else (value / vignette[hr, hc]).astype(xp.float64)
    # GPU: sums of light values are float64 atomics in no fixed order (Backend.segment_sum),
    # equal to the CPU's within float64 rounding; counts, extents and the axes are exact.
    # CUDA's sqrt is correctly rounded like the CPU's, its log within 1 ulp of it.

    def ssum(q: Any) -> Any:
        return backend.segment_sum(q, seg, n)

    sums: dict[str, Any] = {}
    sums["size"] = ssum(xp.ones_like(v))
    sums["nhits"] = ssum(active.astype(xp.float64))
    sums["integral"] = ssum(v)
    if vignette is not None:
        sums["corrintegral"] = ssum(z)
    sums["zz"] = ssum(z * z)
    x, y = hc.astype(xp.float64), hr.astype(xp.float64)
    w = xp.maximum(z, 0.0)
    sums["w"] = ssum(w)
    c, s = cos[seg], sin[seg]
    dx, dy = x - mx[seg], y - my[seg]
    along = dx * c + dy * s
    across = -dx * s + dy * c
    for name, q in (("x", x), ("y", y), ("along", along), ("across", across),
                    ("along2", along * along), ("across2", across * across),
                    ("xy", x * y), ("xx", x * x), ("yy", y * y)):
        sums["w_" + name] = ssum(w * q)
        sums[name] = ssum(q)
    extremes = (
        backend.segment_min(along, seg, n, np.inf),
        backend.segment_max(along, seg, n, -np.inf),
        backend.segment_min(across, seg, n, np.inf),
        backend.segment_max(across, seg, n, -np.inf),
    )
    return sums, extremes, along, across, z, seg


def _hit_sums_compiled(
    prow: Any, pcol: Any, seg_points: Any, n: int, frame: Any, pedestal: Any, threshold: Any,
    vignette: Any | None, cimax: int, rebin: int, mx: Any, my: Any, cos: Any, sin: Any,
) -> tuple[dict[str, Any], tuple[Any, Any, Any, Any], Any, Any, Any, Any]:
    """The same as _hit_sums_arrays in one compiled pass over the hits (cpu_clustering)."""
    from .cpu_clustering import hit_sums

    vig = vignette if vignette is not None else np.ones((1, 1), dtype=np.float32)
    table, extremes, along, across, v, seg = hit_sums(
        prow, pcol, seg_points, n, frame, pedestal, threshold, vig, vignette is not None,
        cimax, rebin, mx, my, cos, sin,
    )
    sums = {name: np.ascontiguousarray(table[:, k]) for k, name in enumerate(HIT_SUMS)}
    return sums, (extremes[0], extremes[1], extremes[2], extremes[3]), along, across, v, seg


def _experiment_theta(prow: Any, pcol: Any, seg: Any, n: int, n_cols: int,
                      backend: Backend) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The experiment's sc_theta (degrees), by its own arithmetic (clusterTools.Cluster.
    eigenvectors): atan2 of the first eigenvector np.linalg.eig gives for `np.cov` of the
    macro-pixel indices in its frame (X = row, Y = n_cols - 1 - column of the rebinned grid).

    Its eigenvectors are not sorted, so this is the major or the minor axis as LAPACK happens
    to order them; for a nearly round cluster the order follows the last bits of the
    covariance.  So the matrices are np.cov's own, on the macro-pixels in the experiment's
    order (snakes.py: `np.unique(..., axis=0)`: by X, then by Y), not covariance sums.
    Clusters of one macro-pixel (none in the experiment's) get 0.  Also returns its major
    eigenvector and macro-pixel mean per cluster (the profiles' axes, profile_variables)."""
    r, c, s = (backend.to_host(a).astype(np.int64) for a in (prow, pcol, seg))
    x, y = r, (n_cols - 1) - c
    order = np.lexsort((y, x, s))  # by cluster, then X, then Y: the experiment's order
    x, y, s = x[order].astype(np.float64), y[order].astype(np.float64), s[order]
    bounds = np.searchsorted(s, np.arange(n + 1))
    matrices = np.zeros((n, 2, 2), dtype=np.float64)
    for k in range(n):
        lo, hi = bounds[k], bounds[k + 1]
        if hi - lo > 1:
            matrices[k] = _cov2(np.stack((x[lo:hi], y[lo:hi])))
    values, vectors = np.linalg.eig(matrices)
    theta = np.degrees(np.arctan2(vectors[:, 1, 0], vectors[:, 0, 0]))
    # its EVs[0] (the major axis, as eig signs it) and mean_point (np.mean of the ints:
    # their exact sum over the count)
    major = vectors[np.arange(n), :, np.argmax(values, axis=1)]
    count = np.maximum(bounds[1:] - bounds[:-1], 1)
    pivot = np.stack((np.bincount(s, weights=x, minlength=n) / count,
                      np.bincount(s, weights=y, minlength=n) / count), axis=1)
    return theta, major, pivot


def _cov2(X: np.ndarray) -> np.ndarray:
    """np.cov of the rows of a (2, N) float64 array, N > 1, by np.cov's own operations (its
    mean, its in-place centring, its dot with the conjugated transpose, its scaling) without
    its argument handling, which costs more than the arithmetic here."""
    X = X - X.mean(axis=1)[:, None]
    c = np.dot(X, X.T.conj())
    c *= np.true_divide(1, X.shape[1] - 1)
    return c


def image_frame(clusters: Any, n_cols: int) -> dict[str, Any]:
    """Image columns/rows from the experiment-frame columns present in `clusters` (arrays,
    Series or floats), for drawing: col_mean, row_mean, col_min, col_max, row_min, row_max."""
    last = float(n_cols - 1)
    rules = {
        "col_mean": ("sc_ymean", True), "row_mean": ("sc_xmean", False),
        "col_min": ("sc_ymax", True), "col_max": ("sc_ymin", True),
        "row_min": ("sc_xmin", False), "row_max": ("sc_xmax", False),
    }
    return {key: (last - clusters[name] if mirrored else clusters[name])
            for key, (name, mirrored) in rules.items() if name in clusters}


def profile_sigma(position: Any, value: Any, seg: Any, n: int, backend: Backend) -> Any:
    """Gaussian sigma of each segment's profile (mean value per 1-unit slice of position >= 0)."""
    if backend.compiled:
        from .cpu_profile_sigma import profile_sigma_compiled

        return profile_sigma_compiled(position, value, seg, n, PROFILE_FIT_FRACTION)
    xp = backend.xp
    slice_idx = xp.floor(position).astype(xp.int64)
    n_slices = backend.segment_max(slice_idx, seg, n, -1) + 1
    offsets = xp.cumsum(n_slices) - n_slices
    total = int(backend.scalar(n_slices.sum()))
    flat = offsets[seg] + slice_idx
    content = xp.bincount(flat, weights=value, minlength=total)[:total]
    count = xp.bincount(flat, minlength=total)[:total]
    owner = xp.searchsorted(offsets + n_slices, xp.arange(total), side="right")
    mean = xp.where(count > 0, content / xp.maximum(count, 1), 0.0)
    peak = backend.segment_max(mean, owner, n, -np.inf)
    use = (count > 0) & (mean > PROFILE_FIT_FRACTION * peak[owner]) & (mean > 0)
    u = xp.arange(total) - offsets[owner] + 0.5
    # centre the abscissa on the profile's weighted mean for a well-conditioned fit
    wy = xp.where(use, mean * mean, 0.0)
    ssum = backend.segment_sum
    w0 = ssum(wy, owner, n)
    centre = ssum(wy * u, owner, n) / xp.where(w0 > 0, w0, 1.0)
    u = u - centre[owner]
    log_y = xp.where(use, xp.log(xp.where(use, mean, 1.0)), 0.0)
    s = [ssum(wy * u**k, owner, n) for k in range(5)]
    t = [ssum(wy * log_y * u**k, owner, n) for k in range(3)]
    # Cramer's rule for [[s0 s1 s2] [s1 s2 s3] [s2 s3 s4]] (a b c) = (t0 t1 t2); need c
    det = (
        s[0] * (s[2] * s[4] - s[3] * s[3])
        - s[1] * (s[1] * s[4] - s[3] * s[2])
        + s[2] * (s[1] * s[3] - s[2] * s[2])
    )
    det_c = (
        s[0] * (s[2] * t[2] - t[1] * s[3])
        - s[1] * (s[1] * t[2] - t[1] * s[2])
        + t[0] * (s[1] * s[3] - s[2] * s[2])
    )
    scale = xp.maximum(xp.abs(s[0] * s[2] * s[4]), 1e-300)
    ok = xp.abs(det) > 1e-12 * scale
    c2 = xp.where(ok, det_c / xp.where(ok, det, 1.0), 0.0)
    good = ok & (c2 < 0)
    return xp.where(good, xp.sqrt(-0.5 / xp.where(good, c2, -1.0)), xp.nan)
