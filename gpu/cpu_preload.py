"""Load every compiled CPU kernel once, in the worker pool's fork server.

Importing this module reconstructs one synthetic LIME-sized frame (gpu/synthetic.py)
through the CPU path, which makes Numba load each kernel that real images use from its
on-disk cache.  The `-j N` pool's fork server imports it before it forks the workers, so
the workers start with the kernels loaded and share those pages (LLVM's libraries, the
loaded code) with the fork server instead of each loading its own copy: less memory per
worker, and no half-second cache load on a worker's first image.  The result of the frame
is thrown away.  Import it only in a process that is going to fork (it freezes the garbage
collector's view of everything alive).
"""

from __future__ import annotations

import gc
import logging

import numpy as np

from .params import RecoParams
from .pedestals import PedestalMaps
from .pipeline import Reconstructor
from .synthetic import SHAPE, synthetic_frame

log = logging.getLogger(__name__)


def load_kernels() -> None:
    """Run one synthetic frame through the CPU path (loads the kernels, result dropped)."""
    maps = PedestalMaps(mean=np.full(SHAPE, 100.0, np.float32),
                        sigma=np.full(SHAPE, 2.0, np.float32), n_images=1)
    Reconstructor(RecoParams(backend="numpy"), maps).process(synthetic_frame())


try:
    load_kernels()
except Exception as exc:  # the workers then load the kernels themselves
    log.warning("compiled CPU kernels not preloaded: %s", exc)
# Every object alive now goes to the collector's permanent generation: a worker's garbage
# collections then never write to them, so their pages stay shared with the fork server
# instead of being copied into each worker.
gc.freeze()
