"""Step 4: 2x2 median filter of the zero-suppressed image, then block-mean rebinning.

The median is scipy.ndimage.median_filter(size=2)'s as the experiment applies it: to the
left-right mirrored camera array (its frame, `np.fliplr`), where the window of (r, j) is rows
r-1..r and columns j-1..j.  In the raw image: rows r-1..r and columns c..c+1, reflected at
the top and right edges (the last column pairs with itself).  Of four values it takes the
upper middle one (rank 2), i.e. max(max(lo1, lo2), min(hi1, hi2)) over the two vertical
pairs.  Block sums add rows first, then columns, in a fixed order that the
CUDA kernel repeats, so CPU and GPU give identical float32 results.
"""

from __future__ import annotations

import numpy as np


def median_rebin_rows(
    extended: np.ndarray, rebin: int, lo: np.ndarray, hi: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Median-filter then rebin a block-aligned band of rows (NumPy, in place).

    `extended` holds the row above the band followed by the band's n rows (n % rebin == 0);
    it is overwritten.  `lo`/`hi` are (n, cols) float32 scratch; `out` receives
    (n // rebin, cols // rebin).
    """
    n = extended.shape[0] - 1
    np.minimum(extended[:-1], extended[1:], out=lo)
    np.maximum(extended[:-1], extended[1:], out=hi)
    med = extended[1:]
    np.maximum(lo[:, :-1], lo[:, 1:], out=med[:, :-1])
    np.minimum(hi[:, :-1], hi[:, 1:], out=lo[:, :-1])
    np.maximum(med[:, :-1], lo[:, :-1], out=med[:, :-1])
    med[:, -1] = hi[:, -1]  # reflected last column: the pair is (hi, hi)
    return block_mean(med, rebin, out, scratch=lo[: n // rebin])


def block_mean(image: np.ndarray, rebin: int, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Mean of rebin x rebin blocks: rows summed first, then columns, sequentially."""
    n, cols = image.shape
    blocks = image.reshape(n // rebin, rebin, cols)
    row_sum = scratch
    if rebin == 1:
        row_sum[...] = blocks[:, 0, :]
    else:
        np.add(blocks[:, 0, :], blocks[:, 1, :], out=row_sum)
        for k in range(2, rebin):
            row_sum += blocks[:, k, :]
    parts = row_sum.reshape(n // rebin, cols // rebin, rebin)
    if rebin == 1:
        out[...] = parts[:, :, 0]
    else:
        np.add(parts[:, :, 0], parts[:, :, 1], out=out)
        for k in range(2, rebin):
            out += parts[:, :, k]
    out /= np.float32(rebin * rebin)
    return out


def band_rows(window_rows: tuple[int, int], rebin: int, n_rows: int) -> tuple[int, int]:
    """Block-aligned rows [a, b) outside which the median-filtered image is exactly 0.

    The median of row r looks at rows r-1 and r, so it can be non-zero on the first row
    after the window too.
    """
    r0, r1 = window_rows
    if r1 <= r0:
        return 0, 0
    a = (r0 // rebin) * rebin
    b = min(n_rows, -(-(r1 + 1) // rebin) * rebin)
    return a, b


def reference_median_rebin(zs: np.ndarray, rebin: int) -> np.ndarray:
    """The straightforward version, float64 (tests/bench): scipy's median filter where the
    experiment applies it, on the mirrored image, then the reshape-mean."""
    from scipy.ndimage import median_filter

    mirrored = np.fliplr(np.asarray(zs, dtype=np.float64))
    med = np.fliplr(median_filter(mirrored, size=2))
    rows, cols = med.shape
    return med.reshape(rows // rebin, rebin, cols // rebin, rebin).mean(axis=(1, 3))
