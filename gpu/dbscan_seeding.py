"""Exact weighted DBSCAN (cityblock metric) on macro-pixels of the rebinned grid.

Gives the core points and clusters of
`sklearn.cluster.DBSCAN(eps, min_samples, metric='cityblock').fit(points, sample_weight=w)`
without any neighbour lists, using that the points sit on an integer grid:

- Weighted neighbourhood sums: a cityblock ball is a diamond, i.e. 2R+1 row intervals; with
  row-wise prefix sums each point needs 2(2R+1) look-ups (R = floor(eps)).  For float32
  weights >= 2**-24 (the pipeline's macro-pixels are > 0.5) every partial sum is an exact
  float64, so `sum >= min_samples` is decided exactly as sklearn decides it, in any order.
- Core-core links (cityblock <= R): in rotated coordinates u = row+col, v = row-col the
  ball is a square.  Each core point is painted as an R x R half-open box; two boxes overlap
  or touch (8-connectivity) exactly when the points are within R, so connected-component
  labelling of the painted lattice gives the DBSCAN clusters.
- Border points take the label of any core box in an (R+2)-wide window around them, i.e.
  of some core point within R (sklearn also lets the first cluster that reaches them win).

Clusters are numbered like sklearn's: in order of their first core point.  Everything is
array code on `backend.xp` / `backend.ndimage`, so it runs unchanged under CuPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend


@dataclass
class SeedResult:
    """Per-point DBSCAN outcome (device arrays): label -1 = noise."""

    labels: Any  # int32 (n,)
    is_core: Any  # bool (n,)
    n_clusters: int
    sizes: Any  # int64 (n_clusters,) points per cluster, core and border


def cityblock_radius(eps: float) -> int:
    """Integer reach of `eps` on the grid (sklearn keeps distances <= eps)."""
    return math.floor(eps)


def neighbourhood_weight(
    rows: Any, cols: Any, weights: Any, radius: int, shape: tuple[int, int], backend: Backend
) -> Any:
    """Sum of weights of the points within cityblock `radius` of each point (itself included).

    float64; exact when weights are float32 values >= 2**-24 and the row totals < 2**29.
    """
    xp = backend.xp
    n = int(rows.shape[0])
    if n == 0:
        return xp.zeros(0, dtype=xp.float64)
    if backend.compiled:
        from . import cpu_clustering

        return cpu_clustering.neighbourhood_weight(
            rows, cols, weights.astype(np.float32), radius, shape[1]
        )
    R = radius
    grid = xp.zeros((shape[0] + 2 * R, shape[1] + 2 * R + 1), dtype=xp.float64)
    grid[rows + R, cols + R + 1] = weights.astype(xp.float32).astype(xp.float64)
    prefix = xp.cumsum(grid, axis=1)  # prefix[:, j] = sum of grid[:, 1..j] (column 0 empty)
    offsets = np.arange(-R, R + 1)
    half = R - np.abs(offsets)
    d_row = xp.asarray(offsets)[None, :]
    d_half = xp.asarray(half)[None, :]
    r = rows[:, None] + R + d_row
    c = cols[:, None] + R
    totals = prefix[r, c + d_half + 1] - prefix[r, c - d_half]
    return totals.sum(axis=1)


@dataclass
class PaintedLattice:
    """Labelled R x R boxes of a point set in rotated coordinates, for later look-ups."""

    labels: Any  # int32 lattice of component labels (0 = empty, 1..n)
    to_cluster: Any  # int32 lookup: lattice label -> renumbered cluster (index 0 -> -1)
    u_offset: int
    v_offset: int
    width: int  # columns of the original grid

    def coordinates(self, rows: Any, cols: Any, xp: Any) -> tuple[Any, Any]:
        u = rows.astype(xp.int64) + cols + self.u_offset
        v = rows.astype(xp.int64) - cols + (self.width - 1) + self.v_offset
        return u, v


@dataclass
class CompiledCores:
    """The compiled CPU path's stand-in for PaintedLattice (see cpu_clustering)."""

    rows: Any
    cols: Any
    labels: Any  # int32 component of each core point
    rank: Any  # int64 lattice rank of each component (the painted lattice's label order)


def core_components(
    rows: Any, cols: Any, radius: int, width: int, backend: Backend
) -> tuple[Any, int, PaintedLattice | CompiledCores | None]:
    """Connected components of points linked when within cityblock `radius`.

    Returns labels 0..n-1 numbered by first point, their count, and the painted lattice
    for `attach_to_components`.
    """
    xp, ndi = backend.xp, backend.ndimage
    n = int(rows.shape[0])
    if n == 0:
        return xp.zeros(0, dtype=xp.int32), 0, None
    if backend.compiled:
        from . import cpu_clustering

        labels, n_comp, rank = cpu_clustering.core_components(rows, cols, radius)
        return labels, int(n_comp), CompiledCores(rows, cols, labels, rank)
    u = rows.astype(xp.int64) + cols
    v = rows.astype(xp.int64) - cols + (width - 1)
    extent = backend.to_host(xp.stack([u.min(), v.min(), u.max(), v.max()]))
    pad = radius + 2
    u_off, v_off = pad - int(extent[0]), pad - int(extent[1])
    shape = (int(extent[2]) + u_off + pad + 1, int(extent[3]) + v_off + pad + 1)
    u, v = u + u_off, v + v_off
    painted = xp.zeros(shape, dtype=xp.uint8)
    painted[u, v] = 1
    painted = ndi.maximum_filter1d(painted, radius, axis=0)
    painted = ndi.maximum_filter1d(painted, radius, axis=1)
    lattice_labels, n_comp = ndi.label(painted, structure=xp.ones((3, 3), dtype=xp.int32))
    n_comp = int(n_comp)
    raw = lattice_labels[u, v].astype(xp.int64) - 1
    labels = renumber_by_first(raw, n_comp, backend)
    to_cluster = xp.full(n_comp + 1, -1, dtype=xp.int32)
    to_cluster[raw + 1] = labels
    return labels, n_comp, PaintedLattice(lattice_labels, to_cluster, u_off, v_off, width)


def renumber_by_first(raw: Any, n: int, backend: Backend) -> Any:
    """Relabel 0..n-1 so that label order follows the first member's index (int32)."""
    xp = backend.xp
    first = backend.segment_min(xp.arange(raw.shape[0], dtype=xp.int64), raw, n, raw.shape[0])
    rank = xp.empty(n, dtype=xp.int64)
    rank[xp.argsort(first)] = xp.arange(n, dtype=xp.int64)
    return rank[raw].astype(xp.int32)


def attach_to_components(
    rows: Any,
    cols: Any,
    radius: int,
    lattice: PaintedLattice | CompiledCores | None,
    backend: Backend,
) -> Any:
    """For each point, the cluster of some painted point within `radius`, else -1."""
    xp, ndi = backend.xp, backend.ndimage
    n = int(rows.shape[0])
    if n == 0 or lattice is None:
        return xp.full(n, -1, dtype=xp.int32)
    if isinstance(lattice, CompiledCores):
        from . import cpu_clustering

        return cpu_clustering.attach(
            rows, cols, lattice.rows, lattice.cols, lattice.labels, lattice.rank, radius
        )
    # an (R+2)-wide window around a point meets the R-wide box of every point within R
    shift = 2 * (radius // 2) - radius + 1
    u, v = lattice.coordinates(rows, cols, xp)
    u, v = u + shift, v + shift
    shape = lattice.labels.shape
    inside = (u >= 0) & (u < shape[0]) & (v >= 0) & (v < shape[1])
    window = ndi.maximum_filter(lattice.labels, size=radius + 2)
    found = xp.zeros(n, dtype=xp.int64)
    found[inside] = window[u[inside], v[inside]]
    return lattice.to_cluster[found]


def dbscan_seed(
    rows: Any,
    cols: Any,
    weights: Any,
    eps: float,
    min_samples: float,
    shape: tuple[int, int],
    backend: Backend,
) -> SeedResult:
    """Weighted cityblock DBSCAN of grid points (rows, cols) with float32 weights."""
    xp = backend.xp
    n = int(rows.shape[0])
    R = cityblock_radius(eps)
    if n == 0:
        empty = xp.zeros(0, dtype=xp.int32)
        return SeedResult(empty, xp.zeros(0, dtype=bool), 0, xp.zeros(0, dtype=xp.int64))
    weight_sum = neighbourhood_weight(rows, cols, weights, R, shape, backend)
    is_core = weight_sum >= float(min_samples)
    labels = xp.full(n, -1, dtype=xp.int32)
    core_idx = xp.nonzero(is_core)[0]
    core_labels, n_clusters, lattice = core_components(
        rows[core_idx], cols[core_idx], R, shape[1], backend
    )
    labels[core_idx] = core_labels
    other = xp.nonzero(~is_core)[0]
    if n_clusters and other.shape[0]:
        labels[other] = attach_to_components(rows[other], cols[other], R, lattice, backend)
    sizes = xp.bincount(labels[labels >= 0], minlength=n_clusters)[:n_clusters]
    return SeedResult(labels, is_core, n_clusters, sizes)
