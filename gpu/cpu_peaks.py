"""scipy.signal.find_peaks(height, prominence, width) on every row of a waveform block, compiled.

The PMT analysis asks scipy for the peaks of 2 x 36 waveforms per event, one call per
row: about 10 ms of Python overhead per event for a few thousand samples of work.  Here
one compiled call walks every row with scipy's own definitions, in its float64 arithmetic,
so the peaks and their properties are scipy's bit for bit (tests/test_pmt_waveforms.py):

- a peak is the middle (rounded down) of a run of equal samples whose neighbours on both
  sides are lower; the first and last samples are never peaks;
- its prominence is its height above the higher of the two lowest points reached walking
  left and right while the signal stays at or below the peak (the bases);
- its width at relative height r is measured between the bases, at x[peak] - r *
  prominence, each side interpolated linearly between the samples around the crossing;
- a peak is kept when height >= its row's threshold, prominence >= its row's minimum and
  width (r = 0.5) >= min_width, the checks find_peaks makes, in its order.
"""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached


@jit_cached
def _prominence(x: np.ndarray, peak: int) -> tuple[float, int, int]:
    """(prominence, left base, right base) of the peak at index `peak` (whole row)."""
    top = x[peak]
    left_base = peak
    left_min = top
    i = peak
    while i >= 0 and x[i] <= top:
        if x[i] < left_min:
            left_min = x[i]
            left_base = i
        i -= 1
    right_base = peak
    right_min = top
    i = peak
    while i < x.size and x[i] <= top:
        if x[i] < right_min:
            right_min = x[i]
            right_base = i
        i += 1
    higher = right_min if right_min > left_min else left_min
    return top - higher, left_base, right_base


@jit_cached
def _width(x: np.ndarray, peak: int, prominence: float, rel_height: float,
           left_base: int, right_base: int) -> float:
    """Width of the peak at x[peak] - rel_height * prominence, between its bases."""
    level = x[peak] - prominence * rel_height
    i = peak
    while i > left_base and level < x[i]:
        i -= 1
    left = float(i)
    if x[i] < level and x[i + 1] != x[i]:
        left += (level - x[i]) / (x[i + 1] - x[i])
    i = peak
    while i < right_base and level < x[i]:
        i += 1
    right = float(i)
    if x[i] < level and x[i - 1] != x[i]:
        right -= (level - x[i]) / (x[i - 1] - x[i])
    return right - left


@jit_cached
def _grow(table: np.ndarray) -> np.ndarray:
    bigger = np.empty((table.shape[0], 2 * table.shape[1]), dtype=table.dtype)
    bigger[:, : table.shape[1]] = table
    return bigger


@jit_cached
def find_peaks_rows(
    y: np.ndarray, height: np.ndarray, prominence: np.ndarray, min_width: float,
    full_rel_height: float,
) -> np.ndarray:
    """Peaks of every row of `y` (float64, C order) as a (6, n_peaks) float64 table: row,
    position, height, prominence, width at half height (r = 0.5) and at `full_rel_height`;
    rows in order, positions in order within a row."""
    table = np.empty((6, 64), dtype=np.float64)
    n = 0
    n_samples = y.shape[1]
    for r in range(y.shape[0]):
        x = y[r]
        i = 1
        while i < n_samples - 1:
            if x[i - 1] < x[i]:
                ahead = i + 1
                while ahead < n_samples - 1 and x[ahead] == x[i]:
                    ahead += 1
                if x[ahead] < x[i]:
                    peak = (i + ahead - 1) // 2
                    i = ahead
                    if height[r] <= x[peak]:
                        prom, left_base, right_base = _prominence(x, peak)
                        if prominence[r] <= prom:
                            half = _width(x, peak, prom, 0.5, left_base, right_base)
                            if min_width <= half:
                                if n == table.shape[1]:
                                    table = _grow(table)
                                table[0, n] = r
                                table[1, n] = peak
                                table[2, n] = x[peak]
                                table[3, n] = prom
                                table[4, n] = half
                                table[5, n] = _width(x, peak, prom, full_rel_height,
                                                     left_base, right_base)
                                n += 1
            i += 1
    return table[:, :n].copy()
