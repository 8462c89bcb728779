"""Ionisation paths of the four signal kinds, with their light and drift distance.

The numbers are LIME-like (He/CF4 60/40 at 1 atm, 50 cm drift, ≈0.15 mm per pixel) and
tuned against the real clusters in the shared data: 55Fe spots of ≈6000 ADU before
vignetting and σ 2-6 px, cosmic tracks of 40-80 ADU per px of length, pixel values of
tens of ADU.  They are illustrative, not a Garfield/Geant4 simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectorConstants:
    """The few numbers that turn energy into light and drift into blur."""

    pixel_mm: float = 0.152
    adu_per_kev: float = 1000.0  # camera ADU per keV before vignetting (gain ~ LIME)
    adu_per_photon: float = 4.0  # ADU per detected photon (ORCA-Fusion ≈ 0.24 e-/ADU)
    drift_cm: float = 50.0
    sigma0_mm: float = 0.30  # GEM + optics blur at zero drift
    diffusion_mm_sqrt_cm: float = 0.13  # transverse diffusion coefficient
    drift_velocity_cm_us: float = 5.5
    fe55_resolution: float = 0.12  # relative σ of the 55Fe light (gain fluctuations)

    def sigma_px(self, z_cm: np.ndarray | float) -> np.ndarray | float:
        """Transverse blur (px) of light produced `z_cm` from the GEMs."""
        sigma_mm = np.sqrt(self.sigma0_mm**2 + self.diffusion_mm_sqrt_cm**2 * np.asarray(z_cm))
        return sigma_mm / self.pixel_mm


@dataclass
class Deposit:
    """The ionisation of one signal before drift: a polyline and how much light it makes."""

    kind: str
    path: np.ndarray  # (n, 2) vertices as (x, y) px
    light: float  # expected ADU before vignetting
    energy_kev: float
    z_start: float  # drift distance at the first vertex (cm)
    z_end: float
    cluster_density: float  # primary clusters per px of path
    min_clusters: int = 1
    end_weight: float = 0.0  # > 0: clusters crowd towards the end (Bragg-like)
    cluster_shape: float = 1.0  # gamma shape of the cluster sizes (1 = exponential)
    time: float = 0.0
    group: int = -1

    @property
    def path_length(self) -> float:
        return float(np.hypot(*np.diff(self.path, axis=0).T).sum()) if len(self.path) > 1 else 0.0


def fe55_spot(rng: np.random.Generator, centre: tuple[float, float], k: DetectorConstants,
              z: float) -> Deposit:
    """A 5.9 keV X-ray conversion: a photo-electron of ≈0.2 mm range, so a round spot."""
    light = 5.9 * k.adu_per_kev * max(0.3, 1.0 + k.fe55_resolution * rng.standard_normal())
    path = _curly_walk(rng, centre, range_px=1.5, curl=0.6)
    return Deposit("fe55", path, light, 5.9, z, z, cluster_density=30.0, min_clusters=40)


def nuclear_recoil(rng: np.random.Generator, centre: tuple[float, float], k: DetectorConstants,
                   z: float) -> Deposit:
    """A 10-100 keV He/C/F recoil: short, dense, straight; quenched light."""
    energy = 10.0 ** rng.uniform(1.0, 2.0)
    quenching = 0.25 + 0.15 * energy / 100.0
    length = 1.0 + 0.1 * energy
    angle = rng.uniform(-math.pi, math.pi)
    half = 0.5 * length * np.array([math.cos(angle), math.sin(angle)])
    path = np.array([np.subtract(centre, half), np.add(centre, half)])
    return Deposit("nr", path, energy * quenching * k.adu_per_kev, energy * quenching, z, z,
                   cluster_density=20.0, min_clusters=60, end_weight=1.0)


def electron_recoil(rng: np.random.Generator, centre: tuple[float, float], k: DetectorConstants,
                    z: float, energy_range: tuple[float, float] = (5.0, 50.0)) -> Deposit:
    """A 5-50 keV electron: range ∝ E^1.7, scattering more and more as it slows down."""
    energy = rng.uniform(*energy_range)
    range_mm = 2.0 * (energy / 10.0) ** 1.7
    path = _curly_walk(rng, centre, range_px=range_mm / k.pixel_mm, curl=1.0)
    return Deposit("er", path, energy * k.adu_per_kev, energy, z, z,
                   cluster_density=2.0, min_clusters=30, end_weight=0.7)


def cosmic_muon(rng: np.random.Generator, shape: tuple[int, int], k: DetectorConstants,
                margin: float = 20.0) -> Deposit:
    """A straight minimum-ionising track crossing the frame edge to edge.

    Projected dE/dx 40-80 ADU per px (the real LIME tracks show 45-70), drift distance
    changing linearly along the track (dip angle), ≈0.4 primary clusters per px with
    exponential sizes: lumpy like the real ones.
    """
    rows, cols = shape
    for _ in range(100):
        point = np.array([rng.uniform(0.25, 0.75) * cols, rng.uniform(0.25, 0.75) * rows])
        angle = rng.uniform(0.0, math.pi)
        start, end = _chord(point, angle, (margin, cols - 1 - margin), (margin, rows - 1 - margin))
        if np.hypot(*(end - start)) >= 0.4 * min(rows, cols):
            break
    path = np.array([start, end])
    length = float(np.hypot(*(end - start)))
    light_per_px = rng.uniform(40.0, 80.0)
    z0, z1 = rng.uniform(1.0, k.drift_cm - 1.0, 2)
    return Deposit("muon", path, light_per_px * length, light_per_px * length / k.adu_per_kev,
                   float(z0), float(z1), cluster_density=0.4, min_clusters=10)


def _chord(point: np.ndarray, angle: float, x_range: tuple[float, float],
           y_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Where the line through `point` at `angle` enters and leaves the box."""
    direction = np.array([math.cos(angle), math.sin(angle)])
    t_low, t_high = -np.inf, np.inf
    for axis, (lo, hi) in enumerate((x_range, y_range)):
        if abs(direction[axis]) < 1e-12:
            continue
        t1 = (lo - point[axis]) / direction[axis]
        t2 = (hi - point[axis]) / direction[axis]
        t_low, t_high = max(t_low, min(t1, t2)), min(t_high, max(t1, t2))
    return point + t_low * direction, point + t_high * direction


def _curly_walk(rng: np.random.Generator, start: tuple[float, float], range_px: float,
                curl: float) -> np.ndarray:
    """A random walk of total length `range_px`, bending more towards its end."""
    n_steps = max(2, math.ceil(range_px / 0.5))
    step = range_px / n_steps
    progress = np.arange(n_steps) / n_steps
    kicks = rng.standard_normal(n_steps) * curl * math.sqrt(step) * (0.15 + 0.8 * progress**2)
    angles = rng.uniform(-math.pi, math.pi) + np.cumsum(kicks)
    steps = step * np.column_stack([np.cos(angles), np.sin(angles)])
    return np.vstack([start, start + np.cumsum(steps, axis=0)])
