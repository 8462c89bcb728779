"""Step 7: per-cluster variables on the full-resolution hits, named like the experiment's tree.

The hits of a cluster are all rebin x rebin full-resolution pixels of its macro-pixels.
Their value is raw - pedestal, *not* zero-suppressed (as the experiment's `hits_fr`), so noise
averages out of the integrals; `sc_nhits` counts those that pass the zero suppression.
Coordinates: x = column, y = row, full-resolution pixel indices (pixel centres at integers).

- sc_integral / sc_corrintegral: sum of hit values / of values divided by the vignetting
  acceptance map (1 at the centre, < 1 at the edges); equal when no map is given.
- sc_size / sc_nhits: number of hits / of zero-suppression-passing hits.
- sc_rms: standard deviation of the hit values.
- sc_xmean, sc_ymean: centroid weighted by max(value, 0); sc_xmin..sc_ymax: hit extent.
- sc_theta: major-axis angle in degrees in (-90, 90], from +x towards +y, of the unweighted
  hit distribution; sc_length / sc_width: extent of the hits along the major / minor axis.
- sc_longrms / sc_latrms: RMS along the axes weighted by max(value, 0); sc_pearson: the
  weighted x-y correlation coefficient.
- sc_lgausssigma / sc_tgausssigma: Gaussian sigma of the longitudinal / transverse profile
  (mean hit value per 1-pixel slice), from a log-parabola fit (Caruana) weighted by the
  squared content over slices above 20% of the peak; NaN when the profile is not peaked.

Everything is segment arithmetic (bincount, scatter min/max) on `backend.xp`: no loop over
clusters or hits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend
from .directional import principal_axes
from .zero_suppression import pedestal_subtracted

CLUSTER_VARIABLES = (
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
    "sc_longrms",
    "sc_latrms",
    "sc_pearson",
    "sc_lgausssigma",
    "sc_tgausssigma",
)

PROFILE_FIT_FRACTION = 0.2


def empty_variables() -> dict[str, np.ndarray]:
    return {name: np.zeros(0, dtype=np.float64) for name in CLUSTER_VARIABLES}


# per-cluster sums over the hits, in this order (columns of the compiled kernel's output)
HIT_SUMS = (
    "size", "nhits", "integral", "corrintegral", "vv", "w",
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
    mx, my, theta, _, cos, sin = principal_axes(
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
    out["sc_integral"] = sums["integral"]
    out["sc_corrintegral"] = sums["corrintegral"] if vignette is not None else sums["integral"]
    mean_v = out["sc_integral"] / size
    out["sc_rms"] = xp.sqrt(xp.maximum(sums["vv"] / size - mean_v**2, 0.0))

    wsum = sums["w"]
    has_w = wsum > 0
    wnorm = xp.where(has_w, wsum, 1.0)

    def wmean(q: str) -> Any:
        return xp.where(has_w, sums["w_" + q] / wnorm, sums[q] / size)

    out["sc_xmean"] = wmean("x")
    out["sc_ymean"] = wmean("y")
    big = float(2**31)
    out["sc_xmin"] = backend.segment_min(pcol * rebin, seg_points, n, big).astype(xp.float64)
    out["sc_xmax"] = backend.segment_max(pcol * rebin + rebin - 1, seg_points, n, -1)
    out["sc_ymin"] = backend.segment_min(prow * rebin, seg_points, n, big).astype(xp.float64)
    out["sc_ymax"] = backend.segment_max(prow * rebin + rebin - 1, seg_points, n, -1)
    out["sc_xmax"] = out["sc_xmax"].astype(xp.float64)
    out["sc_ymax"] = out["sc_ymax"].astype(xp.float64)

    theta = xp.where(theta <= -np.pi / 2, theta + np.pi, theta)
    out["sc_theta"] = xp.degrees(theta)
    out["sc_length"] = along_max - along_min
    out["sc_width"] = across_max - across_min

    mean_along, mean_across = wmean("along"), wmean("across")
    out["sc_longrms"] = xp.sqrt(xp.maximum(wmean("along2") - mean_along**2, 0.0))
    out["sc_latrms"] = xp.sqrt(xp.maximum(wmean("across2") - mean_across**2, 0.0))
    mean_x, mean_y = out["sc_xmean"], out["sc_ymean"]
    cov = wmean("xy") - mean_x * mean_y
    var_x = wmean("xx") - mean_x**2
    var_y = wmean("yy") - mean_y**2
    denom = xp.sqrt(xp.maximum(var_x * var_y, 0.0))
    out["sc_pearson"] = xp.where(denom > 0, cov / xp.where(denom > 0, denom, 1.0), 0.0)

    out["sc_lgausssigma"] = profile_sigma(along - along_min[seg], v, seg, n, backend)
    out["sc_tgausssigma"] = profile_sigma(across - across_min[seg], v, seg, n, backend)
    return {name: backend.to_host(out[name]).astype(np.float64) for name in CLUSTER_VARIABLES}


def _hit_sums_arrays(
    prow: Any, pcol: Any, seg_points: Any, n: int, frame: Any, pedestal: Any, threshold: Any,
    vignette: Any | None, cimax: int, rebin: int, mx: Any, my: Any, cos: Any, sin: Any,
    backend: Backend,
) -> tuple[dict[str, Any], tuple[Any, Any, Any, Any], Any, Any, Any, Any]:
    """HIT_SUMS per cluster, (along, across) min and max, and per hit along, across, value
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
        sums["corrintegral"] = ssum((value / vignette[hr, hc]).astype(xp.float64))
    sums["vv"] = ssum(v * v)
    x, y = hc.astype(xp.float64), hr.astype(xp.float64)
    w = xp.maximum(v, 0.0)
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
    return sums, extremes, along, across, v, seg


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


def profile_sigma(position: Any, value: Any, seg: Any, n: int, backend: Backend) -> Any:
    """Gaussian sigma of each segment's profile (mean value per 1-unit slice of position >= 0)."""
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
