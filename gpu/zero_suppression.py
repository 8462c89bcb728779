"""Steps 1-3: spark test, saturation cut, pedestal subtraction, zero suppression, window.

The per-pixel threshold map folds the acceptance window in (+inf outside it), so one
comparison does both.  A pixel is kept when raw < cimax and raw - pedestal > nsigma x noise;
kept pixels hold raw - pedestal (float32), the others 0.  (The experiment sets raw >= cimax
to 0 before subtracting; with non-negative pedestals such a pixel is never kept either.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .params import RecoParams


def acceptance_window(params: RecoParams, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the kept region, clipped to the frame (half-open)."""
    rows, cols = shape
    return (
        min(params.ymin, rows),
        min(params.ymax, rows),
        min(params.xmin, cols),
        min(params.xmax, cols),
    )


def threshold_map(sigma: np.ndarray, params: RecoParams) -> np.ndarray:
    """float32 nsigma x noise inside the acceptance window, +inf outside."""
    thr = np.full(sigma.shape, np.inf, dtype=np.float32)
    r0, r1, c0, c1 = acceptance_window(params, sigma.shape)
    np.multiply(np.float32(params.nsigma), sigma[r0:r1, c0:c1], out=thr[r0:r1, c0:c1],
                dtype=np.float32)
    return thr


def raw_sum(raw: Any, xp: Any = np) -> int:
    """Exact sum of the raw frame (the spark test)."""
    return int(raw.sum(dtype=xp.uint64))


def is_spark(total: int, params: RecoParams) -> bool:
    return params.spark_sum_threshold > 0 and total > params.spark_sum_threshold


def zero_suppress_rows(
    raw: np.ndarray,
    pedestal: np.ndarray,
    threshold: np.ndarray,
    cimax: int,
    rows: tuple[int, int],
    out: np.ndarray,
    scratch: np.ndarray,
) -> np.ndarray:
    """Zero-suppressed float32 rows [rows[0], rows[1]) into `out` (NumPy, in place).

    Branch-free: thr - value is negative exactly when value > thr (IEEE subtraction of
    finite values, thr may be +inf), so its sign bit, spread by an arithmetic shift, is an
    all-ones/all-zeros mask for the value's bits.  `scratch` is a float32 buffer shaped
    like `out`.  Four light passes; one more only when some pixel reaches cimax.
    """
    a, b = rows
    raw_rows = raw[a:b]
    np.subtract(raw_rows, pedestal[a:b], out=out, dtype=np.float32)
    np.subtract(threshold[a:b], out, out=scratch)
    keep = scratch.view(np.int32)
    np.right_shift(keep, 31, out=keep)
    if raw_rows.size and raw_rows.max() >= cimax:
        keep[raw_rows >= cimax] = 0
    bits = out.view(np.int32)
    np.bitwise_and(bits, keep, out=bits)
    return out


def pedestal_subtracted(raw_values: Any, pedestal_values: Any, cimax: int, xp: Any) -> Any:
    """raw - pedestal as the experiment keeps it for cluster integrals (not zero-suppressed).

    Raw values >= cimax count as 0 before the subtraction, like the experiment's cut.
    """
    raw_f = raw_values.astype(xp.float32)
    raw_f = xp.where(raw_values < cimax, raw_f, xp.float32(0))
    return raw_f - pedestal_values
