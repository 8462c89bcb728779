"""Step 5: noise cleaning of the rebinned image, exactly as the experiment's `nred_cython`.

A border of `clean_border` macro-pixels is zeroed first.  Then macro-pixels are visited in
the experiment's raster order and updated *in place*.  The experiment runs its loop on the
left-right mirrored image (its frame: `np.fliplr` of the camera array), rows and columns
1 .. n-3 of that frame: in the raw image, rows 1 .. n-3 top to bottom and, within a row,
columns n-2 down to 2, right to left.  With m the mean of the 8 neighbours (float32,
summed in the experiment's order) a pixel becomes m when it deviates
from m by more than `clean_outlier`, and 0 when m < `min_neighbors_average` or fewer than
`clean_min_active` of its 3x3 are non-zero.  In-place matters: a zeroed pixel lowers the
mean of the pixels visited after it, which is what removes noise (a one-shot parallel
version keeps thousands of noise macro-pixels per image at LIME's settings).

Without a Python loop over pixels: a pixel depends only on its already visited neighbours
(raw up-left, up, up-right and right), so the raster result is the unique fixed point of
"recompute a pixel from the current values of those four and the original values of the
other neighbours".  One parallel pass over the whole image, then passes over only the
pixels downstream of a change, reach it exactly (the number of passes is the longest chain
of successive changes, typically a few tens of small passes).  The CUDA path does the same
fixed point with a wavefront kernel (cuda_kernels.noise_clean).
"""

from __future__ import annotations

from typing import Any

from .params import RecoParams

# visited ("earlier") neighbours of raw (r, c) and the pixels that have (r, c) as one of them
EARLIER = ((-1, 1), (0, 1), (-1, 0), (-1, -1))
LATER = tuple((-dr, -dc) for dr, dc in EARLIER)


def zero_border(image: Any, border: int, xp: Any) -> Any:
    """float32 copy with `border` macro-pixels zeroed on each edge."""
    img = image.astype(xp.float32, copy=True)
    img[..., :border, :] = 0
    img[..., -border:, :] = 0
    img[..., :, :border] = 0
    img[..., :, -border:] = 0
    return img


def _rule(
    a: Any, b: Any, cc: Any, d: Any, spx: Any, f: Any, g: Any, h: Any, i: Any,
    params: RecoParams, xp: Any,
) -> Any:
    """New value of a pixel from its 3x3, named as the experiment names them in its mirrored
    frame (a, b, cc: raw column c+1; d, spx, f: column c; g, h, i: column c-1; rows k-1, k,
    k+1) and summed in its order.  a, b, d, g are the current (visited) values, the others
    the original ones.
    """
    total = a + b
    active = (a != 0).astype(xp.int8) + (b != 0)
    for value in (cc, d, f, g, h, i):
        total += value
        active += value != 0
    active += spx != 0
    mean = total / xp.float32(8.0)
    out = xp.where(xp.abs(spx - mean) > xp.float32(params.clean_outlier), mean, spx)
    killed = (mean < xp.float32(params.min_neighbors_average)) | (
        active < params.clean_min_active
    )
    return xp.where(killed, xp.float32(0), out)


def _sweep_rows(current: Any, original: Any, params: RecoParams, xp: Any) -> tuple[int, int]:
    """Rows [lo, hi) of the visited rows (1 .. n-3) that can change in a sweep."""
    n_rows = original.shape[0]
    live = xp.nonzero((original != 0).any(axis=1) | (current != 0).any(axis=1))[0]
    if live.shape[0] == 0:
        return 1, 1
    first, last = (int(v) for v in (live[0], live[-1]))
    return max(1, first - 1), min(n_rows - 2, last + 2)


def _dense_sweep(current: Any, original: Any, params: RecoParams, xp: Any) -> Any:
    """Recompute every pixel of the live rows at once; returns the mask of changes."""
    n_cols = original.shape[1]
    lo, hi = _sweep_rows(current, original, params, xp)
    changed = xp.zeros(original.shape, dtype=bool)
    if hi <= lo:
        return changed
    cur, org = current, original
    up, mid, down = slice(lo - 1, hi - 1), slice(lo, hi), slice(lo + 1, hi + 1)
    # visited raw columns 2 .. n-2; "right" is the experiment's j - 1
    left, here, right = slice(1, n_cols - 2), slice(2, n_cols - 1), slice(3, n_cols)
    new = _rule(
        cur[up, right], cur[mid, right], org[down, right],
        cur[up, here], org[mid, here], org[down, here],
        cur[up, left], org[mid, left], org[down, left],
        params, xp,
    )
    changed[mid, here] = new != cur[mid, here]
    cur[mid, here] = new
    return changed


def _sparse_sweep(
    current: Any, original: Any, r: Any, c: Any, params: RecoParams, xp: Any
) -> tuple[Any, Any]:
    """Recompute pixels (r, c) only; returns the coordinates of those that changed."""
    cur, org = current, original
    new = _rule(
        cur[r - 1, c + 1], cur[r, c + 1], org[r + 1, c + 1],
        cur[r - 1, c], org[r, c], org[r + 1, c],
        cur[r - 1, c - 1], org[r, c - 1], org[r + 1, c - 1],
        params, xp,
    )
    changed = new != cur[r, c]
    cur[r, c] = new
    return r[changed], c[changed]


def _downstream(changed: Any) -> Any:
    """Mask of visited-region pixels having a changed pixel among their earlier neighbours."""
    n_rows, n_cols = changed.shape
    dirty = changed.copy()
    dirty[:] = False
    for dr, dc in LATER:  # dirty[p] |= changed[p - (dr, dc)]
        src_r = slice(max(0, -dr), n_rows - max(0, dr))
        dst_r = slice(max(0, dr), n_rows - max(0, -dr))
        src_c = slice(max(0, -dc), n_cols - max(0, dc))
        dst_c = slice(max(0, dc), n_cols - max(0, -dc))
        dirty[dst_r, dst_c] |= changed[src_r, src_c]
    dirty[:1, :] = False
    dirty[n_rows - 2 :, :] = False
    dirty[:, :2] = False
    dirty[:, n_cols - 1 :] = False
    return dirty


# above this fraction of the image to recompute, a whole sweep is cheaper than gathers
DENSE_FRACTION = 0.02


def clean_rebinned(image: Any, params: RecoParams, xp: Any) -> Any:
    """Cleaned float32 copy of one rebinned image (rows, cols), raster-order semantics."""
    original = zero_border(image, params.clean_border, xp)
    current = original.copy()
    shape = original.shape
    if shape[0] < 4 or shape[1] < 4:
        return xp.zeros_like(original)
    dense_limit = DENSE_FRACTION * shape[0] * shape[1]
    changed = _dense_sweep(current, original, params, xp)
    while True:
        dirty = _downstream(changed)
        n_dirty = int(xp.count_nonzero(dirty))
        if n_dirty == 0:
            return current
        if n_dirty > dense_limit:
            changed = _dense_sweep(current, original, params, xp)
            continue
        r, c = xp.nonzero(dirty)
        r, c = _sparse_sweep(current, original, r, c, params, xp)
        changed = xp.zeros(shape, dtype=bool)
        changed[r, c] = True
