"""The main peak of a profile as the experiment's clusterShapes finds it (issue 23):
scipy.signal.find_peaks(contents, distance=6, height=3, prominence=2, width=2) over the bins
with centre inside (0, last edge), the peak with the largest position; its height,
prominence, position (bin centre) and width (in bins); NO_PEAK each without a peak.
`last_peak` is that search compiled, for profile_fits' one call per image."""

from __future__ import annotations

import numpy as np

from .cpu_kernels import jit_cached

NO_PEAK = -999.0
PEAK_HEIGHT = 3.0


@jit_cached
def last_peak(y: np.ndarray, height: float, distance: int, min_prominence: float,
               min_width: float) -> tuple[int, float, float, float, bool]:
    """scipy.signal.find_peaks(y, distance, height, prominence, width) (whole-signal
    prominence, widths at half prominence) reduced to its last peak, in one compiled pass:
    (index or -1, height, prominence, width, exact).  Its steps in its order: local maxima
    (a plateau's middle, rounded down), height, distance (highest first), prominence,
    width.  Its distance step visits peaks in np.argsort order of their heights, which is
    not unique on ties: exact = False when two candidates tie (the caller asks scipy)."""
    n = y.size
    peaks = np.empty(max(n, 1), dtype=np.int64)
    m = 0
    i, i_max = 1, n - 1
    while i < i_max:  # _local_maxima_1d
        if y[i - 1] < y[i]:
            ahead = i + 1
            while ahead < i_max and y[ahead] == y[i]:
                ahead += 1
            if y[ahead] < y[i]:
                peaks[m] = (i + ahead - 1) // 2
                m += 1
                i = ahead
        i += 1
    kept = 0
    for j in range(m):  # height
        if y[peaks[j]] >= height:
            peaks[kept] = peaks[j]
            kept += 1
    m = kept
    for j in range(m):
        for k in range(j + 1, m):
            if y[peaks[j]] == y[peaks[k]]:
                return -1, 0.0, 0.0, 0.0, False
    keep = np.ones(m, dtype=np.bool_)
    order = np.argsort(y[peaks[:m]])
    for r in range(m - 1, -1, -1):  # distance: highest first
        j = order[r]
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < m and peaks[k] - peaks[j] < distance:
            keep[k] = False
            k += 1
    best, best_h, best_p, best_w = -1, 0.0, 0.0, 0.0
    for j in range(m):
        if not keep[j]:
            continue
        p = peaks[j]
        top = y[p]
        left_base = i = p  # prominence over the whole signal
        left_min = top
        while i >= 0 and y[i] <= top:
            if y[i] < left_min:
                left_min, left_base = y[i], i
            i -= 1
        right_base = i = p
        right_min = top
        while i <= n - 1 and y[i] <= top:
            if y[i] < right_min:
                right_min, right_base = y[i], i
            i += 1
        prominence = top - max(left_min, right_min)
        if not prominence >= min_prominence:
            continue
        level = top - prominence * 0.5  # width at half prominence
        i = p
        while left_base < i and level < y[i]:
            i -= 1
        left = float(i)
        if y[i] < level:
            left += (level - y[i]) / (y[i + 1] - y[i])
        i = p
        while i < right_base and level < y[i]:
            i += 1
        right = float(i)
        if y[i] < level:
            right -= (level - y[i]) / (y[i - 1] - y[i])
        width = right - left
        if width >= min_width:
            best, best_h, best_p, best_w = p, top, prominence, width
    return best, best_h, best_p, best_w, True


def main_peak(edges: np.ndarray, content: np.ndarray) -> tuple[float, float, float, float]:
    """(amplitude, prominence, fwhm in bins, position) of the last peak, or NO_PEAKs:
    last_peak, or scipy's find_peaks itself where last_peak cannot be sure of its order."""
    if content.size == 0 or content.max() < PEAK_HEIGHT:  # nothing reaches the height
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    centres = 0.5 * (edges[:-1] + edges[1:])
    use = (centres > 0) & (centres < edges[-1])
    y = content.astype(np.float64)[use]
    at, height, prominence, width, exact = last_peak(y, PEAK_HEIGHT, 6, 2.0, 2.0)
    if not exact:
        return scipy_main_peak(edges, content)
    if at < 0:
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    return height, prominence, width, float(centres[use][at])


def scipy_main_peak(edges: np.ndarray, content: np.ndarray
                    ) -> tuple[float, float, float, float]:
    """main_peak by scipy.signal.find_peaks (the definition; main_peak's check)."""
    from scipy.signal import find_peaks

    if content.size == 0 or content.max() < PEAK_HEIGHT:  # nothing reaches the height
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    centres = 0.5 * (edges[:-1] + edges[1:])
    use = (centres > 0) & (centres < edges[-1])
    y = content.astype(np.float64)[use]
    peaks, props = find_peaks(y, distance=6, height=PEAK_HEIGHT, prominence=2, width=2)
    if len(peaks) == 0:
        return NO_PEAK, NO_PEAK, NO_PEAK, NO_PEAK
    k = int(np.argmax(centres[use][peaks]))
    return (float(props["peak_heights"][k]), float(props["prominences"][k]),
            float(props["widths"][k]), float(centres[use][peaks[k]]))
