"""Compiled (Numba) loops of the CPU path: steps 1-5 in a few passes at memory speed.

Each kernel repeats, operation for operation, the float32 arithmetic of the NumPy version it
replaces (gpu/reference_cpu.py keeps those), so the results are bit-identical:

- `zero_suppress_median_rebin`, steps 2-4 in one pass over the band of kept rows:
  raw < cimax and raw - pedestal > threshold keeps raw - pedestal (float32), as
  zero_suppression's sign-bit mask does; the sum and sum of squares of those values in
  NumPy's own pairwise summation order (blocks of 128, eight accumulators), i.e. what
  `zs.sum()` and `np.square(zs).sum()` return; the 2x2 median (upper middle of four, over
  rows r-1..r and columns c..c+1: the experiment's window in its mirrored frame) and
  the rebin x rebin block mean, rows summed first then columns, in rebin.py's order.  Only
  a few rows of zero-suppressed values exist at any time.
- `clean_raster`: the experiment's in-place raster loop (nred_cython) itself, in its
  mirrored frame (raw columns right to left); the array version in noise_cleaning reaches
  the same result as a fixed point.

Compiled code is cached on disk (`cache=True`: next to this module, else Numba's user-wide
cache dir or $NUMBA_CACHE_DIR), so a new process does not compile again; where no cache dir
is writable the kernels are compiled in memory instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

PW_BLOCKSIZE = 128  # NumPy's pairwise-summation leaf size (loops_utils.h)


def jit_cached(fn: Callable[..., Any]) -> Any:
    """njit with an on-disk cache, or without one when no cache location is writable."""
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "no locator available": read-only install, no writable cache dir
        return numba.njit(cache=False, nogil=True)(fn)


@jit_cached
def raw_sum(raw: np.ndarray) -> int:
    """Exact sum of a 2-D uint16 frame (the spark test)."""
    total = np.uint64(0)
    rows, cols = raw.shape
    for i in range(rows):
        row_total = np.uint64(0)
        for j in range(cols):
            row_total += np.uint64(raw[i, j])
        total += row_total
    return total


@jit_cached
def _zero_suppress(
    raw: np.ndarray, pedestal: np.ndarray, threshold: np.ndarray, cimax: int,
    lo: int, n: int, out: np.ndarray, at: int,
) -> None:
    """Zero-suppressed float32 values of flat pixels lo .. lo+n-1 into out[at:at+n]."""
    zero = np.float32(0.0)
    for j in range(n):
        i = np.uint64(lo + j)  # unsigned: no negative-index wraparound, the loop vectorises
        value = np.float32(raw[i]) - pedestal[i]
        out[np.uint64(at + j)] = value if raw[i] < cimax and value > threshold[i] else zero


@jit_cached
def _pairwise_leaf(a: np.ndarray, lo: int, n: int) -> tuple[np.float32, np.float32]:
    """NumPy's float32 sum of a[lo:lo+n] (n <= PW_BLOCKSIZE) and of its squares: eight
    accumulators combined pairwise, then the rest in order.  (Unsigned indices: no
    negative-index wraparound, so the eight lanes vectorise; twice as fast.)"""
    if n < 8:
        s = np.float32(0.0)
        q = np.float32(0.0)
        for i in range(lo, lo + n):
            s += a[i]
            q += a[i] * a[i]
        return s, q
    one = np.uint64(1)
    i = np.uint64(lo)
    s0, s1, s2, s3 = a[i], a[i + one], a[i + 2 * one], a[i + 3 * one]
    s4, s5, s6, s7 = a[i + 4 * one], a[i + 5 * one], a[i + 6 * one], a[i + 7 * one]
    q0, q1, q2, q3 = s0 * s0, s1 * s1, s2 * s2, s3 * s3
    q4, q5, q6, q7 = s4 * s4, s5 * s5, s6 * s6, s7 * s7
    blocks = n // 8
    for j in range(1, blocks):
        i = np.uint64(lo) + np.uint64(8 * j)
        v0, v1, v2, v3 = a[i], a[i + one], a[i + 2 * one], a[i + 3 * one]
        v4, v5, v6, v7 = a[i + 4 * one], a[i + 5 * one], a[i + 6 * one], a[i + 7 * one]
        s0 += v0
        s1 += v1
        s2 += v2
        s3 += v3
        s4 += v4
        s5 += v5
        s6 += v6
        s7 += v7
        q0 += v0 * v0
        q1 += v1 * v1
        q2 += v2 * v2
        q3 += v3 * v3
        q4 += v4 * v4
        q5 += v5 * v5
        q6 += v6 * v6
        q7 += v7 * v7
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    q = ((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))
    for k in range(lo + 8 * blocks, lo + n):
        s += a[k]
        q += a[k] * a[k]
    return s, q


@jit_cached
def pairwise_split(tasks: np.ndarray, n_tasks: int, lo: int, n: int) -> int:
    """One split of NumPy's pairwise summation on an explicit stack of (lo, n, combine?):
    push "combine" for (lo, n), then its right and left halves (the half rounded down to
    a multiple of 8), the left on top; returns the new stack size."""
    half = n // 2
    half -= half % 8
    tasks[n_tasks, 0], tasks[n_tasks, 1], tasks[n_tasks, 2] = lo, n, 1
    tasks[n_tasks + 1, 0], tasks[n_tasks + 1, 1] = lo + half, n - half
    tasks[n_tasks + 1, 2] = 0
    tasks[n_tasks + 2, 0], tasks[n_tasks + 2, 1], tasks[n_tasks + 2, 2] = lo, half, 0
    return n_tasks + 3


@jit_cached
def _median_row(up: np.ndarray, here: np.ndarray, row_sum: np.ndarray, first: bool) -> None:
    """2x2 medians of one row (upper middle of four: max(max(lo1, lo2), min(hi1, hi2)) over
    the vertical pairs of columns j and j+1, the experiment's window in its mirrored frame;
    the last column is mirrored: its pair is (hi, hi)), stored into (`first`) or added to
    row_sum.  Unsigned indices let the loop vectorise."""
    last = here.size - 1
    hi_last = here[last] if up[last] < here[last] else up[last]
    if first:
        row_sum[last] = hi_last
    else:
        row_sum[last] += hi_last
    one = np.uint64(1)
    for j in range(last):
        a = np.uint64(j)
        b = a + one
        u1, h1, u2, h2 = up[a], here[a], up[b], here[b]
        lo1 = u1 if u1 < h1 else h1
        hi1 = h1 if u1 < h1 else u1
        lo2 = u2 if u2 < h2 else h2
        hi2 = h2 if u2 < h2 else u2
        low = lo2 if lo2 > lo1 else lo1
        high = hi2 if hi2 < hi1 else hi1
        med = low if low > high else high
        if first:
            row_sum[a] = med
        else:
            row_sum[a] += med


@jit_cached
def _finish_block(row_sum: np.ndarray, rebin: int, out_row: np.ndarray) -> None:
    """rebin x rebin block means from the summed medians of a block of rows: within a block
    the rows were added first, then the columns are, in order (rebin.py's order)."""
    area = np.float32(rebin * rebin)
    for c in range(out_row.size):
        acc = row_sum[c * rebin]
        for k in range(1, rebin):
            acc += row_sum[c * rebin + k]
        out_row[c] = acc / area


@jit_cached
def zero_suppress_median_rebin(
    raw: np.ndarray, pedestal: np.ndarray, threshold: np.ndarray, cimax: int,
    mirror_top: bool, rebin: int, out: np.ndarray,
) -> tuple[float, float]:
    """Steps 2-4 on a block-aligned band of rows in one pass: zero suppression, its sum and
    sum of squares, the 2x2 median and the rebin x rebin block mean into `out`.

    raw, pedestal, threshold: (n, cols) C-ordered band; out: (n // rebin, cols // rebin).
    The sums are NumPy's for `zs.sum()` and `np.square(zs).sum()` over the band: its
    pairwise tree (leaves of <= PW_BLOCKSIZE, halves rounded down to a multiple of 8)
    walked with an explicit stack (Numba's cache takes no recursive functions), whose
    leaves come in flat order.  Each leaf is zero-suppressed into a ring of a few rows and
    summed there; each row, once complete, is median-filtered
    with the row above (the row itself at the frame's top edge when `mirror_top`, else
    zero: outside the acceptance window) into its block's row sums.  No frame-sized
    buffer, and the values are read while they are in the cache.
    """
    n_rows, cols = raw.shape
    flat_raw, flat_ped, flat_thr = raw.reshape(-1), pedestal.reshape(-1), threshold.reshape(-1)
    # band row r lives at ring[(r % ring_rows) * cols:]: enough rows for those a leaf can
    # touch plus the one above; a leaf that runs past the end spills into the tail, which
    # is then copied to the start
    ring_rows = 3 + (PW_BLOCKSIZE + cols - 1) // cols
    span = ring_rows * cols
    ring = np.empty(span + PW_BLOCKSIZE, dtype=np.float32)
    top = ring[:cols] if mirror_top else np.zeros(cols, dtype=np.float32)  # row 0's "up"
    row_sum = np.empty(cols, dtype=np.float32)
    tasks = np.empty((256, 3), dtype=np.int64)  # (lo, n, combine?); depth ~ log2(n/128)
    sums = np.empty(256, dtype=np.float32)
    squares = np.empty(256, dtype=np.float32)
    n_tasks = 1
    n_values = 0
    next_row = 0  # the first row not yet median-filtered
    tasks[0, 0], tasks[0, 1], tasks[0, 2] = 0, n_rows * cols, 0
    while n_tasks:
        n_tasks -= 1
        lo, n, combine = tasks[n_tasks, 0], tasks[n_tasks, 1], tasks[n_tasks, 2]
        if combine:
            n_values -= 1
            sums[n_values - 1] += sums[n_values]
            squares[n_values - 1] += squares[n_values]
        elif n <= PW_BLOCKSIZE:
            at = lo % span
            _zero_suppress(flat_raw, flat_ped, flat_thr, cimax, lo, n, ring, at)
            sums[n_values], squares[n_values] = _pairwise_leaf(ring, at, n)
            n_values += 1
            if at + n > span:
                ring[: at + n - span] = ring[span : at + n]
            while (next_row + 1) * cols <= lo + n:  # rows completed by this leaf
                k = next_row
                start = (k % ring_rows) * cols
                here = ring[start : start + cols]
                if k > 0:
                    start = ((k - 1) % ring_rows) * cols
                    up = ring[start : start + cols]
                else:
                    up = top
                _median_row(up, here, row_sum, k % rebin == 0)
                if k % rebin == rebin - 1:
                    _finish_block(row_sum, rebin, out[k // rebin])
                next_row += 1
        else:
            n_tasks = pairwise_split(tasks, n_tasks, lo, n)
    zero = np.float32(0.0)
    return float(zero + sums[0]), float(zero + squares[0])


# rows of the noise cleaning processed together, in a wavefront (see clean_raster)
CLEAN_WAVE_ROWS = 4


@jit_cached
def clean_raster(
    e: np.ndarray, outlier: float, min_average: float, min_active: int
) -> None:
    """The experiment's in-place noise cleaning of a border-zeroed float32 image.

    The experiment runs its loop on the left-right mirrored image, rows 1 .. n-3 top to
    bottom and, within a row, its columns 1 .. n-3 left to right: here, raw columns n-2
    down to 2, right to left.  Pixel (k, j) reads (k-1, j-1..j+1) and (k, j+1) as already
    updated and (k, j-1), (k+1, j-1..j+1) as not yet updated.  Rows taken CLEAN_WAVE_ROWS
    at a time, each two columns behind the row above, keep exactly that order of updates,
    and give the CPU independent pixels to overlap (one row alone is a chain of dependent
    float adds).
    """
    n_rows, n_cols = e.shape
    limit = np.float32(outlier)
    floor = np.float32(min_average)
    eight = np.float32(8.0)
    zero = np.float32(0.0)
    n_j = n_cols - 3  # the experiment's columns 1 .. n_cols - 3
    one = np.uint64(1)
    k0 = 1
    while k0 < n_rows - 2:
        rows = min(CLEAN_WAVE_ROWS, n_rows - 2 - k0)
        for step in range(n_j + 2 * (rows - 1)):
            for r in range(rows):
                jj = step - 2 * r
                if jj < 0 or jj >= n_j:
                    continue
                # unsigned: no negative-index wraparound checks (j >= 2, k >= 1)
                k = np.uint64(k0 + r)
                j = np.uint64(n_cols - 2 - jj)  # the experiment's column jj + 1, mirrored
                # a..i named as the experiment names them in its (mirrored) frame
                a, b, c = e[k - one, j + one], e[k, j + one], e[k + one, j + one]
                d, spx, f = e[k - one, j], e[k, j], e[k + one, j]
                g, h, i = e[k - one, j - one], e[k, j - one], e[k + one, j - one]
                active = (
                    (a != 0) + (b != 0) + (c != 0) + (d != 0) + (spx != 0)
                    + (f != 0) + (g != 0) + (h != 0) + (i != 0)
                )
                if active == 0:  # mean 0: the pixel stays 0, or is set to 0 if killed
                    if zero < floor or active < min_active:
                        e[k, j] = zero
                    continue
                mean = (a + b + c + d + f + g + h + i) / eight
                if abs(spx - mean) > limit:
                    spx = mean
                if mean < floor or active < min_active:
                    spx = zero
                e[k, j] = spx
        k0 += rows
