"""A synthetic camera frame with every kind of structure the clustering meets.

Used to load the compiled kernels ahead of the first real image (cpu_preload) and in tests
that need a frame without simulating a run.
"""

from __future__ import annotations

import numpy as np

SHAPE = (2304, 2304)  # a LIME frame; the kernels' types do not depend on the shape


def synthetic_frame(shape: tuple[int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    """A noisy flat frame (pedestal 100, sigma 2) with a 600-pixel track, a round spot and,
    alone, three faint macro-pixels (clustering points that are not core)."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(100.0, 2.0, shape)
    rows, cols = np.indices(shape, sparse=True)
    cy, cx = shape[0] // 2, shape[1] // 2
    along = (rows - cy) * 0.6 + (cols - cx) * 0.8
    across = (rows - cy) * 0.8 - (cols - cx) * 0.6
    frame += 40.0 * np.exp(-0.5 * (across / 6.0) ** 2) * (np.abs(along) < 300)
    r0, c0 = 4 * (cy // 8), 4 * (3 * cx // 8)  # three faint macro-pixels in an L, alone:
    frame[r0 : r0 + 8, c0 : c0 + 4] += 6.0  # points that are not core
    frame[r0 + 4 : r0 + 8, c0 + 4 : c0 + 8] += 6.0
    frame += 60.0 * (((rows - cy // 2) ** 2 + (cols - cx // 2) ** 2) < 12**2)
    return np.clip(frame, 0, 65535).astype(np.uint16)
