"""Turn one ionisation `Deposit` into photons on the sensor, and its truth.

Monte Carlo, vectorised per signal: primary clusters along the path (gamma-distributed
sizes), Poisson photon counts per cluster, Gaussian transverse diffusion growing with the
drift distance, then each photon survives with the optical acceptance of the pixel it
lands on (binomial thinning = vignetting).  Every surviving photon adds `adu_per_photon`
ADU.  The footprint is every pixel that got at least one photon.
"""

from __future__ import annotations

import math

import numpy as np

from cygno_mw.simulation.signals import TrueSignal
from cygno_mw.simulation.tracks import Deposit, DetectorConstants


def render_deposit(
    deposit: Deposit,
    rng: np.random.Generator,
    acceptance: np.ndarray,
    constants: DetectorConstants,
) -> TrueSignal:
    """Photons of `deposit` on a sensor with this acceptance map; the truth with footprint."""
    rows, cols = acceptance.shape
    path = deposit.path
    segment = np.hypot(*np.diff(path, axis=0).T) if len(path) > 1 else np.zeros(0)
    along = np.concatenate([[0.0], np.cumsum(segment)])
    total = float(along[-1])

    n_clusters = max(deposit.min_clusters, int(rng.poisson(total * deposit.cluster_density)))
    u = rng.random(n_clusters)
    if deposit.end_weight > 0:  # density rising towards the end of the path
        u = u ** (1.0 / (1.0 + deposit.end_weight))
    s = u * total
    if total > 0:
        cx, cy = np.interp(s, along, path[:, 0]), np.interp(s, along, path[:, 1])
    else:
        cx, cy = np.full(n_clusters, path[0, 0]), np.full(n_clusters, path[0, 1])
    z = deposit.z_start + (deposit.z_end - deposit.z_start) * (s / total if total > 0 else 0.0)

    weights = rng.gamma(deposit.cluster_shape, 1.0, n_clusters)
    weights *= deposit.light / weights.sum()
    photons = rng.poisson(weights / constants.adu_per_photon)
    sigma = np.asarray(constants.sigma_px(z), dtype=np.float64)

    n_photons = int(photons.sum())
    spread = rng.standard_normal((2, n_photons))
    spread *= np.repeat(sigma, photons)
    col = np.rint(np.repeat(cx, photons) + spread[0]).astype(np.int64)
    row = np.rint(np.repeat(cy, photons) + spread[1]).astype(np.int64)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    flat = row[inside] * cols + col[inside]
    survives = rng.random(flat.size) < acceptance.reshape(-1)[flat]
    footprint, counts = np.unique(flat[survives], return_counts=True)
    footprint_light = (counts * constants.adu_per_photon).astype(np.float32)

    x = float(np.dot(weights, cx) / deposit.light)
    y = float(np.dot(weights, cy) / deposit.light)
    z_mean = float(np.dot(weights, z) / deposit.light)
    theta, length = _principal_axis(path)
    if deposit.kind == "fe55":
        theta = math.nan
    return TrueSignal(
        kind=deposit.kind,
        x=x,
        y=y,
        theta=theta,
        length=length,
        light=float(deposit.light),
        light_sensor=float(footprint_light.sum(dtype=np.float64)),
        energy_kev=float(deposit.energy_kev),
        sigma=float(constants.sigma_px(z_mean)),
        z=z_mean,
        time=float(deposit.time),
        z_start=float(deposit.z_start),
        z_end=float(deposit.z_end),
        x_start=float(path[0, 0]),
        y_start=float(path[0, 1]),
        x_end=float(path[-1, 0]),
        y_end=float(path[-1, 1]),
        path_length=total,
        group=deposit.group,
        footprint=footprint.astype(np.int64),
        footprint_light=footprint_light,
    )


def _principal_axis(path: np.ndarray) -> tuple[float, float]:
    """Direction (rad, folded into (-π/2, π/2]) and extent (px) of a polyline."""
    centred = path - path.mean(axis=0)
    if len(path) < 2 or not np.any(centred):
        return 0.0, 0.0
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    direction = vt[0]
    projection = centred @ direction
    theta = math.atan2(direction[1], direction[0])
    if theta <= -math.pi / 2:
        theta += math.pi
    elif theta > math.pi / 2:
        theta -= math.pi
    return theta, float(projection.max() - projection.min())
