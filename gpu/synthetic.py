"""A synthetic camera frame with every kind of structure the clustering meets.

Used to load the compiled kernels ahead of the first real image (cpu_preload) and in tests
that need a frame without simulating a run.
"""

from __future__ import annotations

import numpy as np

SHAPE = (2304, 2304)  # a LIME frame; the kernels' types do not depend on the shape


def synthetic_frame(shape: tuple[int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    """A noisy flat frame (pedestal 100, sigma 2) with a 600-pixel track, a round spot and
    four faint L-shaped groups of three macro-pixels, each alone (clustering points that
    are not core)."""
    rng = np.random.default_rng(seed)
    frame = rng.standard_normal(shape, dtype=np.float32)  # float32 and blocks: small peaks
    frame *= 2.0
    frame += 100.0
    cy, cx = shape[0] // 2, shape[1] // 2
    track = np.s_[max(cy - 330, 0) : cy + 330, max(cx - 330, 0) : cx + 330]
    rows, cols = np.ogrid[track]
    along = (rows - cy) * 0.6 + (cols - cx) * 0.8
    across = (rows - cy) * 0.8 - (cols - cx) * 0.6
    frame[track] += 40.0 * np.exp(-0.5 * (across / 6.0) ** 2) * (np.abs(along) < 300)
    r0 = 4 * (cy // 8)
    for k, light in enumerate((5.0, 6.0, 7.0, 8.0)):  # faint Ls of three macro-pixels, alone:
        c0 = 4 * (cx // 8) + 80 * k  # clustering points that are not core
        frame[r0 : r0 + 8, c0 : c0 + 4] += light
        frame[r0 + 4 : r0 + 8, c0 + 4 : c0 + 8] += light
    sy, sx = cy // 2, cx // 2
    rows, cols = np.ogrid[sy - 12 : sy + 13, sx - 12 : sx + 13]
    frame[sy - 12 : sy + 13, sx - 12 : sx + 13] += 60.0 * (
        (rows - sy) ** 2 + (cols - sx) ** 2 < 12**2)
    np.clip(frame, 0, 65535, out=frame)
    return frame.astype(np.uint16)
