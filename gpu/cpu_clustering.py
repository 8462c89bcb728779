"""Compiled (Numba) forms of the clustering's array code on the CPU: same results, bit for bit.

- `segment_sum/min/max`: NumPy's `bincount(weights=)` and `minimum.at`/`maximum.at` as the
  loops they are (index order; for ties and signed zeros the later value wins, as in
  np.minimum/np.maximum; NaN propagates), without their per-call checks and copies.
- `neighbourhood_weight`: dbscan_seeding's row-prefix-sum look-ups, with the prefix rows
  computed only where points are and NumPy's pairwise order for the per-point total.
- `core_components` / `attach`: the painted-lattice labelling of dbscan_seeding as a
  union-find over points within cityblock R.  Boxes of two points touch exactly when the
  points are within R, so the lattice's components are these; scipy's label numbers them by
  their first lattice pixel in raster order, i.e. by (min u, then min v at that u) of their
  points (u = row + col, v = row - col); a border point joins, like the lattice's maximum
  filter, the highest-numbered component with a core point within R.
"""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached, pairwise_split


@jit_cached
def segment_sum(values: np.ndarray, segments: np.ndarray, n: int) -> np.ndarray:
    """np.bincount(segments, weights=values, minlength=n)[:n]."""
    out = np.zeros(n, dtype=np.float64)
    for i in range(segments.size):
        s = segments[i]
        if s < n:
            out[s] += np.float64(values[i])
    return out


@jit_cached
def segment_min(out: np.ndarray, segments: np.ndarray, values: np.ndarray) -> None:
    """np.minimum.at(out, segments, values)."""
    n = out.size
    for i in range(segments.size):
        s = segments[i]
        if s < 0:
            s += n
        current, value = out[s], values[i]
        if current != current:  # NaN stays
            continue
        out[s] = current if current < value else value


@jit_cached
def segment_max(out: np.ndarray, segments: np.ndarray, values: np.ndarray) -> None:
    """np.maximum.at(out, segments, values)."""
    n = out.size
    for i in range(segments.size):
        s = segments[i]
        if s < 0:
            s += n
        current, value = out[s], values[i]
        if current != current:
            continue
        out[s] = current if current > value else value


@jit_cached
def _pairwise_leaf64(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's float64 sum of a[lo:lo+n], n <= 128: eight accumulators, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@jit_cached
def pairwise_sum64(a: np.ndarray) -> float:
    """NumPy's pairwise float64 sum of a 1-D array (its recursion walked with a stack)."""
    if a.size <= 128:
        return 0.0 + _pairwise_leaf64(a, 0, a.size)
    tasks = np.empty((128, 3), dtype=np.int64)
    values = np.empty(128, dtype=np.float64)
    n_tasks = 1
    n_values = 0
    tasks[0, 0], tasks[0, 1], tasks[0, 2] = 0, a.size, 0
    while n_tasks:
        n_tasks -= 1
        lo, n, combine = tasks[n_tasks, 0], tasks[n_tasks, 1], tasks[n_tasks, 2]
        if combine:
            n_values -= 1
            values[n_values - 1] += values[n_values]
        elif n <= 128:
            values[n_values] = _pairwise_leaf64(a, lo, n)
            n_values += 1
        else:
            n_tasks = pairwise_split(tasks, n_tasks, lo, n)
    return 0.0 + values[0]


@jit_cached
def neighbourhood_weight(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, radius: int, n_cols: int
) -> np.ndarray:
    """dbscan_seeding.neighbourhood_weight: float64 sums within cityblock `radius`."""
    n = rows.size
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    R = radius
    first = rows.min()
    height = rows.max() - first + 1 + 2 * R
    width = n_cols + 2 * R + 1
    prefix = np.zeros((height, width), dtype=np.float64)
    used = np.zeros(height, dtype=np.bool_)
    for i in range(n):
        r = rows[i] - first + R
        prefix[r, cols[i] + R + 1] = np.float64(np.float32(weights[i]))
        used[r] = True
    for r in range(height):
        if used[r]:
            for j in range(1, width):
                prefix[r, j] = prefix[r, j - 1] + prefix[r, j]
    totals = np.empty(2 * R + 1, dtype=np.float64)
    for i in range(n):
        c = cols[i] + R
        for k in range(2 * R + 1):
            d = k - R
            half = R - abs(d)
            r = rows[i] - first + R + d
            totals[k] = prefix[r, c + half + 1] - prefix[r, c - half]
        out[i] = pairwise_sum64(totals)
    return out


@jit_cached
def _index_grid(rows: np.ndarray, cols: np.ndarray, pad: int) -> tuple:
    """Grid of point indices (-1 empty) over the points' bounding box plus `pad`."""
    r0 = rows.min() - pad
    c0 = cols.min() - pad
    grid = np.full((rows.max() - r0 + pad + 1, cols.max() - c0 + pad + 1), -1, dtype=np.int32)
    for i in range(rows.size):
        grid[rows[i] - r0, cols[i] - c0] = i
    return grid, r0, c0


@jit_cached
def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@jit_cached
def core_components(rows: np.ndarray, cols: np.ndarray, radius: int) -> tuple:
    """(labels numbered by first point, their count, lattice rank of each label)."""
    n = rows.size
    R = radius
    grid, r0, c0 = _index_grid(rows, cols, R)
    parent = np.arange(n)
    for i in range(n):
        gr, gc = rows[i] - r0, cols[i] - c0
        for dr in range(-R, 1):  # the half-diamond of earlier cells (and the own cell)
            half = R + dr
            stop = half + 1 if dr < 0 else 1
            for dc in range(-half, stop):
                j = grid[gr + dr, gc + dc]
                if j >= 0 and j != i:
                    a, b = _root(parent, i), _root(parent, j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    labels = np.empty(n, dtype=np.int32)
    label_of_root = np.full(n, -1, dtype=np.int64)
    n_comp = 0
    for i in range(n):
        root = _root(parent, i)
        if label_of_root[root] < 0:
            label_of_root[root] = n_comp
            n_comp += 1
        labels[i] = label_of_root[root]
    big = np.iinfo(np.int64).max
    min_u = np.full(n_comp, big, dtype=np.int64)
    min_v = np.full(n_comp, big, dtype=np.int64)
    for i in range(n):
        k = labels[i]
        u, v = rows[i] + cols[i], rows[i] - cols[i]
        if u < min_u[k] or (u == min_u[k] and v < min_v[k]):
            min_u[k], min_v[k] = u, v
    order = np.argsort(min_u * (4 * (rows.max() + cols.max() + 2)) + min_v, kind="mergesort")
    rank = np.empty(n_comp, dtype=np.int64)
    for position in range(n_comp):
        rank[order[position]] = position
    return labels, n_comp, rank


@jit_cached
def attach(
    rows: np.ndarray,
    cols: np.ndarray,
    core_rows: np.ndarray,
    core_cols: np.ndarray,
    core_labels: np.ndarray,
    rank: np.ndarray,
    radius: int,
) -> np.ndarray:
    """Per point: the highest-ranked component with a core point within `radius`, or -1."""
    R = radius
    out = np.full(rows.size, -1, dtype=np.int32)
    grid, r0, c0 = _index_grid(core_rows, core_cols, 0)
    height, width = grid.shape
    for i in range(rows.size):
        best = -1
        best_rank = -1
        for dr in range(-R, R + 1):
            gr = rows[i] - r0 + dr
            if gr < 0 or gr >= height:
                continue
            half = R - abs(dr)
            for dc in range(-half, half + 1):
                gc = cols[i] - c0 + dc
                if gc < 0 or gc >= width:
                    continue
                j = grid[gr, gc]
                if j >= 0:
                    k = core_labels[j]
                    if rank[k] > best_rank:
                        best_rank, best = rank[k], k
        out[i] = best
    return out


@jit_cached
def hit_sums(
    prow: np.ndarray,
    pcol: np.ndarray,
    seg_points: np.ndarray,
    n: int,
    frame: np.ndarray,
    pedestal: np.ndarray,
    threshold: np.ndarray,
    vignette: np.ndarray,
    has_vignette: bool,
    cimax: int,
    rebin: int,
    mx: np.ndarray,
    my: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
) -> tuple:
    """cluster_variables' per-hit sums (columns in HIT_SUMS order), along/across extremes,
    and per hit along, across, light z (value / vignette) and cluster: one pass in the array
    code's hit order (points in order, each point's rebin x rebin pixels row by row) and
    arithmetic."""
    n_hits = prow.size * rebin * rebin
    table = np.zeros((n, 24), dtype=np.float64)
    extremes = np.empty((4, n), dtype=np.float64)
    extremes[0, :] = np.inf
    extremes[1, :] = -np.inf
    extremes[2, :] = np.inf
    extremes[3, :] = -np.inf
    along_out = np.empty(n_hits, dtype=np.float64)
    across_out = np.empty(n_hits, dtype=np.float64)
    v_out = np.empty(n_hits, dtype=np.float64)
    seg_out = np.empty(n_hits, dtype=np.int64)
    zero32 = np.float32(0.0)
    h = 0
    for k in range(prow.size):
        # a point's hits all belong to cluster s: its running sums stay in local variables
        # for them (the same additions in the same order as table[s] += ... each time)
        s = seg_points[k]
        c, sn, cx, cy = cos[s], sin[s], mx[s], my[s]
        t = table[s]
        size_ = t[0]
        nhits_ = t[1]
        integral_ = t[2]
        corr_ = t[3]
        zz_ = t[4]
        w_ = t[5]
        wx_ = t[6]
        x_ = t[7]
        wy_ = t[8]
        y_ = t[9]
        wal_ = t[10]
        al_ = t[11]
        wac_ = t[12]
        ac_ = t[13]
        wal2_ = t[14]
        al2_ = t[15]
        wac2_ = t[16]
        ac2_ = t[17]
        wxy_ = t[18]
        xy_ = t[19]
        wxx_ = t[20]
        xx_ = t[21]
        wyy_ = t[22]
        yy_ = t[23]
        al_lo, al_hi = extremes[0, s], extremes[1, s]
        ac_lo, ac_hi = extremes[2, s], extremes[3, s]
        for b in range(rebin * rebin):
            hr = prow[k] * rebin + b // rebin
            hc = pcol[k] * rebin + b % rebin
            raw = frame[hr, hc]
            raw_f = np.float32(raw) if raw < cimax else zero32
            value = raw_f - pedestal[hr, hc]
            active = raw < cimax and value > threshold[hr, hc] and value > 0
            v = np.float64(value)
            z = np.float64(value / vignette[hr, hc]) if has_vignette else v
            w = z if z > 0.0 else 0.0
            x, y = np.float64(hc), np.float64(hr)
            dx, dy = x - cx, y - cy
            along = dx * c + dy * sn
            across = -dx * sn + dy * c
            size_ += 1.0
            nhits_ += 1.0 if active else 0.0
            integral_ += v
            if has_vignette:
                corr_ += z
            zz_ += z * z
            w_ += w
            wx_ += w * x
            x_ += x
            wy_ += w * y
            y_ += y
            wal_ += w * along
            al_ += along
            wac_ += w * across
            ac_ += across
            wal2_ += w * (along * along)
            al2_ += along * along
            wac2_ += w * (across * across)
            ac2_ += across * across
            wxy_ += w * (x * y)
            xy_ += x * y
            wxx_ += w * (x * x)
            xx_ += x * x
            wyy_ += w * (y * y)
            yy_ += y * y
            # np.minimum.at / np.maximum.at: NaN stays, ties take the new value
            if al_lo == al_lo:
                al_lo = al_lo if al_lo < along else along
            if al_hi == al_hi:
                al_hi = al_hi if al_hi > along else along
            if ac_lo == ac_lo:
                ac_lo = ac_lo if ac_lo < across else across
            if ac_hi == ac_hi:
                ac_hi = ac_hi if ac_hi > across else across
            along_out[h] = along
            across_out[h] = across
            v_out[h] = z
            seg_out[h] = s
            h += 1
        t[0] = size_
        t[1] = nhits_
        t[2] = integral_
        t[3] = corr_
        t[4] = zz_
        t[5] = w_
        t[6] = wx_
        t[7] = x_
        t[8] = wy_
        t[9] = y_
        t[10] = wal_
        t[11] = al_
        t[12] = wac_
        t[13] = ac_
        t[14] = wal2_
        t[15] = al2_
        t[16] = wac2_
        t[17] = ac2_
        t[18] = wxy_
        t[19] = xy_
        t[20] = wxx_
        t[21] = xx_
        t[22] = wyy_
        t[23] = yy_
        extremes[0, s], extremes[1, s] = al_lo, al_hi
        extremes[2, s], extremes[3, s] = ac_lo, ac_hi
    return table, extremes, along_out, across_out, v_out, seg_out


@jit_cached
def hough_votes(
    x: np.ndarray, y: np.ndarray, cos: np.ndarray, sin: np.ndarray, width: float
) -> tuple:
    """directional._hough_seed's vote: (best cell, n_rho, offset), as its array code gets
    them (bins floor((x cos + y sin) / width), cells angle-major, first maximum wins)."""
    n_angles = cos.size
    low = np.iinfo(np.int64).max
    high = np.iinfo(np.int64).min
    for i in range(x.size):
        for a in range(n_angles):
            b = np.int64(np.floor((x[i] * cos[a] + y[i] * sin[a]) / width))
            low = min(low, b)
            high = max(high, b)
    n_rho = high - low + 1
    votes = np.zeros(n_rho * n_angles, dtype=np.int64)
    for i in range(x.size):
        for a in range(n_angles):
            b = np.int64(np.floor((x[i] * cos[a] + y[i] * sin[a]) / width))
            votes[(b - low) + n_rho * a] += 1
    return np.argmax(votes), n_rho, low


@jit_cached
def near_points(
    rows: np.ndarray,
    cols: np.ndarray,
    track: np.ndarray,
    d_row: np.ndarray,
    d_col: np.ndarray,
    reach: int,
    shape: tuple,
) -> np.ndarray:
    """directional._isolation_mask: points not in `track` with a track point at one of
    the offsets (d_row, d_col) (a disc of half-width `reach`)."""
    grid = np.zeros((shape[0] + 2 * reach, shape[1] + 2 * reach), dtype=np.bool_)
    for i in range(rows.size):
        if track[i]:
            grid[rows[i] + reach, cols[i] + reach] = True
    out = np.zeros(rows.size, dtype=np.bool_)
    for i in range(rows.size):
        if track[i]:
            continue
        r, c = rows[i] + reach, cols[i] + reach
        for k in range(d_row.size):
            if grid[r + d_row[k], c + d_col[k]]:
                out[i] = True
                break
    return out
