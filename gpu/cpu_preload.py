"""Load every compiled CPU kernel once, in the worker pool's fork server.

Importing this module reconstructs one synthetic LIME-sized frame (a long track and a
round spot on a flat pedestal) through the CPU path, which makes Numba load each kernel
that real images use from its on-disk cache.  The `-j N` pool's fork server imports it
before it forks the workers, so the workers start with the kernels loaded and share those
pages (LLVM's libraries, the loaded code) with the fork server instead of each loading
its own copy: less memory per worker, and no half-second cache load on a worker's first
image.  The result of the frame is thrown away.
"""

from __future__ import annotations

import logging

import numpy as np

from .params import RecoParams
from .pedestals import PedestalMaps
from .pipeline import Reconstructor

log = logging.getLogger(__name__)
SHAPE = (2304, 2304)  # a LIME frame; the kernels' types do not depend on the shape


def synthetic_frame(shape: tuple[int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    """A noisy flat frame (pedestal 100, sigma 2) with a 600-pixel track (faint edges:
    border points for the clustering) and a round spot."""
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


def load_kernels() -> None:
    """Run one synthetic frame through the CPU path (loads the kernels, result dropped)."""
    maps = PedestalMaps(mean=np.full(SHAPE, 100.0, np.float32),
                        sigma=np.full(SHAPE, 2.0, np.float32), n_images=1)
    Reconstructor(RecoParams(backend="numpy"), maps).process(synthetic_frame())


try:
    load_kernels()
except Exception as exc:  # the workers then load the kernels themselves
    log.warning("compiled CPU kernels not preloaded: %s", exc)
