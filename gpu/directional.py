"""Step 6b: directional regrowth of track-like clusters ("directional DBSCAN").

A deterministic, vectorised form of the experiment's ddbscaninner, judged against truth:

1. Seeds.  A seed cluster with more than `dir_minsamples` points is *track-like* when a
   straight line explains it: with s/d the coordinates along/across its principal axis, the
   fraction of points with |d| < MAD(s)/2 must be >= `dir_min_accuracy`.  (The experiment
   asks a RANSAC fit of row on column, or of the 45-degree-rotated points, for residuals
   below the MAD of the fitted coordinate; at the best of its orientations that is this
   test.)  Clusters longer than HOUGH_MIN_EXTENT x `dir_radius` instead contribute their
   longest straight run found by a Hough transform, so two crossing tracks, or a track with
   a spot beside it, are taken apart rather than regrown as one.
2. Regrowth, longest runs first, then track-like seeds by accuracy (ties: larger first):
   points within `dir_thickness` of the line join when they chain to the track with gaps
   along the line of at most `dir_radius` (cityblock length); points of earlier tracks do
   not join but bridge gaps, so a track is not cut where it crosses another.  The line is
   refitted and the growth repeated, 1 + `max_attempts` passes at most.
3. What is left of the clusters that lost points is re-clustered by plain DBSCAN with core
   status recomputed from the light outside tracks; points within `isolation_radius`
   (Euclidean) of a track are dropped unless core by that light.  (The experiment drops all
   of them, and also re-clustered pieces smaller than its smallest seed cluster: both rules
   removed genuine spots next to tracks in the simulation, so they are not applied.)
4. Steps 1-3 are repeated on the re-clustered rest, DIRECTIONAL_ROUNDS rounds at most.

Line fits use principal axes (no random sampling); with integer grid coordinates their
moments are exact and their trigonometry runs on the host, so CPU and GPU agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend
from .dbscan_seeding import (
    SeedResult,
    attach_to_components,
    cityblock_radius,
    core_components,
    neighbourhood_weight,
)
from .params import RecoParams


@dataclass
class ClusterLabels:
    """Final clusters of the points: label -1 = not clustered."""

    labels: Any  # int32 (n,) on the device
    n_clusters: int
    directional: np.ndarray  # bool (n_clusters,): regrown along a line


def principal_axes(x: Any, y: Any, segments: Any, n: int, backend: Backend) -> tuple:
    """Per-segment unweighted centroid, major-axis angle (radians, from +x toward +y) and its
    cosine and sine, plus the point counts.

    Grid coordinates are integers (or half-integers), so the raw moments are exact float64
    sums whatever the summation order (GPU atomics included), and the angle's trigonometry
    runs on the host: CPU and GPU get bit-identical axes.
    """
    xp = backend.xp
    xf, yf = x.astype(xp.float64), y.astype(xp.float64)
    count = backend.segment_sum(xp.ones_like(xf), segments, n)
    safe = xp.maximum(count, 1.0)
    sx = backend.segment_sum(xf, segments, n)
    sy = backend.segment_sum(yf, segments, n)
    cxx = backend.segment_sum(xf * xf, segments, n) - sx * sx / safe
    cyy = backend.segment_sum(yf * yf, segments, n) - sy * sy / safe
    cxy = backend.segment_sum(xf * yf, segments, n) - sx * sy / safe
    theta = 0.5 * np.arctan2(2.0 * backend.to_host(cxy), backend.to_host(cxx - cyy))
    cos, sin = xp.asarray(np.cos(theta)), xp.asarray(np.sin(theta))
    return sx / safe, sy / safe, xp.asarray(theta), count, cos, sin


def line_axis(x: Any, y: Any, backend: Backend) -> tuple[float, float, float, float]:
    """Centroid and unit direction (cos, sin) of one set of grid points, host floats."""
    xp = backend.xp
    xf, yf = x.astype(xp.float64), y.astype(xp.float64)
    moments = backend.to_host(
        xp.stack([xf.sum(), yf.sum(), (xf * xf).sum(), (yf * yf).sum(), (xf * yf).sum()])
    )
    n = float(x.shape[0])
    sx, sy, sxx, syy, sxy = (float(m) for m in moments)
    theta = 0.5 * math.atan2(2.0 * (sxy - sx * sy / n), (sxx - sx * sx / n) - (syy - sy * sy / n))
    return sx / n, sy / n, math.cos(theta), math.sin(theta)


def segment_median(values: Any, segments: Any, n: int, backend: Backend) -> Any:
    """Median of `values` within each segment (float64; NaN for empty segments)."""
    xp = backend.xp
    # stable on both backends (CuPy's argsort always is): the same permutation; the median
    # depends on the sorted values only anyway
    order = xp.argsort(values, kind="stable")
    order = order[xp.argsort(segments[order], kind="stable")]
    sorted_values = values[order].astype(xp.float64)
    counts = xp.bincount(segments, minlength=n)[:n]
    starts = xp.cumsum(counts) - counts
    last = max(int(sorted_values.shape[0]) - 1, 0)
    lo = xp.clip(starts + (counts - 1) // 2, 0, last)
    hi = xp.clip(starts + counts // 2, 0, last)
    if sorted_values.shape[0] == 0:
        return xp.full(n, xp.nan)
    return xp.where(counts > 0, 0.5 * (sorted_values[lo] + sorted_values[hi]), xp.nan)


def line_accuracy(rows: Any, cols: Any, labels: Any, n: int, backend: Backend) -> Any:
    """Fraction of each cluster's points within MAD(s)/2 of its principal axis."""
    xp = backend.xp
    keep = labels >= 0
    seg, x, y = labels[keep], cols[keep], rows[keep]
    if seg.shape[0] == 0:
        return xp.zeros(n)
    mx, my, _, count, cos, sin = principal_axes(x, y, seg, n, backend)
    c, s = cos[seg], sin[seg]
    dx, dy = x - mx[seg], y - my[seg]
    along = dx * c + dy * s
    across = xp.abs(-dx * s + dy * c)
    med = segment_median(along, seg, n, backend)
    mad = segment_median(xp.abs(along - med[seg]), seg, n, backend)
    inside = (across < 0.5 * mad[seg]).astype(xp.float64)
    return backend.segment_sum(inside, seg, n) / xp.maximum(count, 1.0)


def _grow_along_line(
    rows: Any, cols: Any, members: Any, free: Any, params: RecoParams, backend: Backend
) -> Any:
    """Boolean mask of the cluster after regrowth along its (refitted) line.

    Points of earlier tracks inside the band do not join but bridge gaps, so a track is
    not cut where it crosses (or runs along) another one.
    """
    xp = backend.xp
    n_members = int(members.sum())
    for _ in range(params.max_attempts + 1):
        idx = xp.nonzero(members)[0]
        mx, my, c, s = line_axis(cols[idx], rows[idx], backend)
        px, py = cols - mx, rows - my
        along = px * c + py * s
        across = xp.abs(-px * s + py * c)
        candidate = members | (across < params.dir_thickness)
        cand_idx = xp.nonzero(candidate)[0]
        # CuPy sorts stably, NumPy's default does not: equal `along` values may come out in
        # another order, but they fall in the same gap-free segment, and only the sorted
        # values and the set of each segment's points are used, so the mask is the CPU's.
        order = xp.argsort(along[cand_idx])
        cand_idx = cand_idx[order]
        step = xp.diff(along[cand_idx]) * (abs(c) + abs(s))
        gaps = xp.cumsum(step > params.dir_radius)
        segment = xp.concatenate([xp.zeros(1, dtype=gaps.dtype), gaps])
        n_seg = int(segment[-1]) + 1
        has_member = backend.segment_max(
            members[cand_idx].astype(xp.int8), segment, n_seg, 0
        )
        grown = xp.zeros_like(members)
        grown[cand_idx[has_member[segment] > 0]] = True
        grown &= free | members
        n_grown = int(grown.sum())
        members = grown | members
        if n_grown <= n_members:
            break
        n_members = n_grown
    return members


def _isolation_mask(
    rows: Any, cols: Any, track: Any, radius: float, shape: tuple[int, int], backend: Backend
) -> Any:
    """Points closer than `radius` (Euclidean) to any point of `track`."""
    xp = backend.xp
    r = int(np.ceil(radius))
    if r == 0 or not bool(track.any()):
        return xp.zeros(rows.shape[0], dtype=bool)
    grid = xp.zeros((shape[0] + 2 * r, shape[1] + 2 * r), dtype=bool)
    grid[rows[track] + r, cols[track] + r] = True
    dr, dc = np.mgrid[-r : r + 1, -r : r + 1]
    disc = dr**2 + dc**2 < radius**2
    if backend.compiled:
        from .cpu_clustering import near_points

        return near_points(rows, cols, track, dr[disc], dc[disc], r, tuple(shape))
    d_row = xp.asarray(dr[disc])[None, :]
    d_col = xp.asarray(dc[disc])[None, :]
    near = grid[rows[:, None] + r + d_row, cols[:, None] + r + d_col].any(axis=1)
    return near & ~track


def _track_seeds(
    rows: Any, cols: Any, groups: Any, n_groups: int, params: RecoParams, backend: Backend
) -> list[Any]:
    """Member masks to regrow along a line, in order.

    Long groups (extent >= HOUGH_MIN_EXTENT x dir_radius, largest first) contribute their
    longest straight run (Hough), so that two crossing or touching tracks, or a track with
    a spot beside it, are taken apart; shorter groups that a line explains follow whole,
    best accuracy first (ties: larger, then lower index), as in the experiment.
    """
    if n_groups == 0:
        return []
    xp = backend.xp
    sizes = backend.to_host(xp.bincount(groups[groups >= 0], minlength=n_groups)[:n_groups])
    big = sizes > params.dir_minsamples
    if not big.any():
        return []
    extent = backend.to_host(_group_extent(rows, cols, groups, n_groups, backend))
    long = big & (extent >= HOUGH_MIN_EXTENT * params.dir_radius)
    seeds = []
    for k in sorted(np.nonzero(long)[0].tolist(), key=lambda k: (-sizes[k], k)):
        run = _hough_seed(rows, cols, groups == k, params, backend)
        if run is not None:
            seeds.append(run)
    short = np.nonzero(big & ~long)[0]
    if short.shape[0]:
        accuracy = backend.to_host(line_accuracy(rows, cols, groups, n_groups, backend))
        eligible = short[accuracy[short] >= params.dir_min_accuracy]
        order = sorted(eligible.tolist(), key=lambda k: (-accuracy[k], -sizes[k], k))
        seeds += [groups == k for k in order]
    return seeds


def _group_extent(rows: Any, cols: Any, groups: Any, n: int, backend: Backend) -> Any:
    """Largest cityblock extent of each group's bounding box (rows or columns)."""
    xp = backend.xp
    keep = groups >= 0
    g, r, c = groups[keep].astype(xp.int64), rows[keep], cols[keep]
    big = np.iinfo(np.int64).max
    height = backend.segment_max(r, g, n, -1) - backend.segment_min(r, g, n, big)
    width = backend.segment_max(c, g, n, -1) - backend.segment_min(c, g, n, big)
    return xp.maximum(height, width)


def _recluster(
    rows: Any,
    cols: Any,
    weights: Any,
    groups: Any,
    n_groups: int,
    in_track: Any,
    near_track: Any,
    min_size: int,
    params: RecoParams,
    shape: tuple[int, int],
    backend: Backend,
) -> tuple[Any, int]:
    """Plain DBSCAN again on what is left of groups that lost points; others unchanged.

    Core status is recomputed from the light outside tracks, so a track no longer makes its
    neighbours core while a spot next to it still is.  Points within isolation_radius of a
    track that are not core by that light are dropped (the experiment drops all of them,
    which also removes spots lying near a track).  Pieces with fewer than `min_size` points
    are dropped.
    """
    xp = backend.xp
    n = int(rows.shape[0])
    out = xp.full(n, -1, dtype=xp.int32)
    if n_groups == 0:
        return out, 0
    R = cityblock_radius(params.eps)
    outside = xp.nonzero(~in_track)[0]
    is_core = xp.zeros(n, dtype=bool)
    if outside.shape[0]:
        weight_left = neighbourhood_weight(
            rows[outside], cols[outside], weights[outside], R, shape, backend
        )
        is_core[outside] = weight_left >= params.min_samples
    removed = in_track | (near_track & ~is_core)
    grouped = groups >= 0
    touched = backend.segment_max(
        removed[grouped].astype(xp.int8), groups[grouped].astype(xp.int64), n_groups, 0
    )
    group_touched = touched[xp.maximum(groups, 0)] > 0
    keep = grouped & ~removed & ~group_touched
    untouched_ids = xp.nonzero(touched == 0)[0]
    remap = xp.full(n_groups, -1, dtype=xp.int32)
    remap[untouched_ids] = xp.arange(untouched_ids.shape[0], dtype=xp.int32)
    out[keep] = remap[groups[keep]]
    next_label = int(untouched_ids.shape[0])
    left = grouped & ~removed & group_touched
    core_idx = xp.nonzero(left & is_core)[0]
    if core_idx.shape[0] == 0:
        return out, next_label
    comp, n_comp, lattice = core_components(rows[core_idx], cols[core_idx], R, shape[1], backend)
    new = xp.full(n, -1, dtype=xp.int32)
    new[core_idx] = comp
    border_idx = xp.nonzero(left & ~is_core)[0]
    if border_idx.shape[0]:
        new[border_idx] = attach_to_components(
            rows[border_idx], cols[border_idx], R, lattice, backend
        )
    counts = xp.bincount(new[new >= 0], minlength=n_comp)[:n_comp]
    big_ids = xp.nonzero(counts >= min_size)[0]  # min_size 1: keep every component
    ids = xp.full(n_comp, -1, dtype=xp.int32)
    ids[big_ids] = xp.arange(big_ids.shape[0], dtype=xp.int32) + next_label
    assigned = new >= 0
    out[assigned] = ids[new[assigned]]
    return out, next_label + int(big_ids.shape[0])


# rounds of "regrow track-like clusters, re-cluster the rest": a track cut in two where it
# crosses an earlier one is made whole again in the next round
DIRECTIONAL_ROUNDS = 4

# a straight run inside a cluster that no single line explains (two crossing tracks)
# becomes a track seed when it is at least this many dir_radius long
HOUGH_MIN_EXTENT = 3.0
HOUGH_ANGLES = 90
HOUGH_MAX_VOTERS = 20_000


def _chains_along(along: Any, gap: float, backend: Backend) -> tuple[Any, Any, int]:
    """Order of points along a line and the chain index of each (gaps > `gap` split)."""
    xp = backend.xp
    # ties may be ordered differently on the GPU (stable sort); tied points share a chain and
    # callers use each chain as a set, so the result is the CPU's
    order = xp.argsort(along)
    steps = xp.diff(along[order]) > gap
    chain = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(steps).astype(xp.int64)])
    return order, chain, int(chain[-1]) + 1 if chain.shape[0] else 0


def _hough_seed(
    rows: Any, cols: Any, members: Any, params: RecoParams, backend: Backend
) -> Any | None:
    """Mask of the longest straight run inside a cluster, or None if it is not long enough.

    Hough transform of the cluster's points (HOUGH_ANGLES angles, distance bins of
    dir_thickness); the best line is refined by the principal axis of its points within
    dir_thickness, whose gaps along it above dir_radius cut them into runs; the most
    populated run must span HOUGH_MIN_EXTENT x dir_radius (cityblock) and pass the
    line-likeness test itself.
    """
    xp = backend.xp
    idx = xp.nonzero(members)[0]
    x = cols[idx].astype(xp.float64)
    y = rows[idx].astype(xp.float64)
    n_points = float(x.shape[0])
    x = x - float(backend.scalar(x.sum())) / n_points
    y = y - float(backend.scalar(y.sum())) / n_points
    angles = np.linspace(0.0, np.pi, HOUGH_ANGLES, endpoint=False)
    cos_table, sin_table = xp.asarray(np.cos(angles)), xp.asarray(np.sin(angles))
    stride = max(1, int(x.shape[0]) // HOUGH_MAX_VOTERS)  # bounded memory for huge clusters
    vx, vy = x[::stride], y[::stride]
    width = params.dir_thickness
    if backend.compiled:
        from .cpu_clustering import hough_votes

        best, n_rho, offset = (int(v) for v in hough_votes(
            np.ascontiguousarray(vx), np.ascontiguousarray(vy), cos_table, sin_table, width
        ))
    else:
        rho = vx[:, None] * cos_table[None, :] + vy[:, None] * sin_table[None, :]
        rho_bin = xp.floor(rho / width).astype(xp.int64)
        offset = int(rho_bin.min())
        n_rho = int(rho_bin.max()) - offset + 1
        cell = (rho_bin - offset) + n_rho * xp.arange(HOUGH_ANGLES)[None, :]
        votes = xp.bincount(cell.ravel(), minlength=n_rho * HOUGH_ANGLES)  # integer: exact
        best = int(xp.argmax(votes))  # first of equal maxima on both backends
    a = best // n_rho
    centre = (best % n_rho + offset + 0.5) * width
    band = xp.abs(x * float(np.cos(angles[a])) + y * float(np.sin(angles[a])) - centre) < width
    if int(band.sum()) <= params.dir_minsamples:
        return None
    # refine: principal axis of the band's points (integer coordinates: exact moments)
    band_idx = idx[xp.nonzero(band)[0]]
    mx, my, c, s = line_axis(cols[band_idx], rows[band_idx], backend)
    x = cols[idx].astype(xp.float64) - mx
    y = rows[idx].astype(xp.float64) - my
    along = x * c + y * s
    across = xp.abs(-x * s + y * c)
    band = xp.nonzero(across < width)[0]
    if band.shape[0] <= params.dir_minsamples:
        return None
    cityblock = abs(c) + abs(s)
    order, chain, n_chain = _chains_along(along[band], params.dir_radius / cityblock, backend)
    counts = xp.bincount(chain, minlength=n_chain)
    longest = int(xp.argmax(counts))  # first of equal maxima on both backends
    run = band[order[chain == longest]]
    extent = float(backend.scalar(along[run].max() - along[run].min())) * cityblock
    if run.shape[0] <= params.dir_minsamples or extent < HOUGH_MIN_EXTENT * params.dir_radius:
        return None
    labels = xp.zeros(run.shape[0], dtype=xp.int32)
    accuracy = line_accuracy(rows[idx[run]], cols[idx[run]], labels, 1, backend)
    if float(backend.scalar(accuracy[0])) < params.dir_min_accuracy:
        return None
    mask = xp.zeros_like(members)
    mask[idx[run]] = True
    return mask


def directional_clusters(
    rows: Any,
    cols: Any,
    weights: Any,
    seed: SeedResult,
    params: RecoParams,
    shape: tuple[int, int],
    backend: Backend,
) -> ClusterLabels:
    """Final cluster labels of the points (rows, cols, weights) after the directional stage."""
    xp = backend.xp
    n = int(rows.shape[0])
    if not params.directional or seed.n_clusters == 0:
        return _finish(seed.labels, seed.n_clusters, np.zeros(seed.n_clusters, bool), backend)
    tracks = xp.full(n, -1, dtype=xp.int32)
    groups, n_groups = seed.labels, seed.n_clusters
    n_tracks = 0
    for _ in range(DIRECTIONAL_ROUNDS):
        new_tracks = 0
        for seed_members in _track_seeds(rows, cols, groups, n_groups, params, backend):
            free = tracks < 0
            members = seed_members & free
            if not bool(members.any()):
                continue
            members = _grow_along_line(rows, cols, members, free, params, backend)
            if int(members.sum()) < params.dir_minsamples:
                continue
            tracks[members] = n_tracks
            n_tracks += 1
            new_tracks += 1
        if new_tracks == 0:
            break
        in_track = tracks >= 0
        near = _isolation_mask(rows, cols, in_track, params.isolation_radius, shape, backend)
        groups, n_groups = _recluster(
            rows, cols, weights, groups, n_groups, in_track, near, 1, params, shape, backend,
        )
    final = tracks.copy()
    rest = (tracks < 0) & (groups >= 0)
    final[rest] = groups[rest] + n_tracks
    directional = np.zeros(n_tracks + n_groups, dtype=bool)
    directional[:n_tracks] = True
    return _finish(final, n_tracks + n_groups, directional, backend)


def _finish(labels: Any, n: int, directional: np.ndarray, backend: Backend) -> ClusterLabels:
    """Drop clusters of fewer than 2 points and number the rest 0..m-1 in order."""
    xp = backend.xp
    if n == 0:
        return ClusterLabels(labels, 0, directional[:0])
    counts = backend.to_host(xp.bincount(labels[labels >= 0], minlength=n)[:n])
    keep = counts >= 2
    ids = np.full(n + 1, -1, dtype=np.int32)
    ids[1:][keep] = np.arange(int(keep.sum()), dtype=np.int32)
    lookup = xp.asarray(ids)
    return ClusterLabels(lookup[labels + 1], int(keep.sum()), directional[keep])
