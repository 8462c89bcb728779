"""Load every compiled CPU kernel once, in the worker pool's fork server.

Importing this module runs cpu_compile.warm_up() (one synthetic LIME-sized frame through
the CPU path, one block of synthetic PMT waveforms), which makes Numba load each kernel
that real data use from its on-disk cache.  The `-j N` pool's fork server imports it
before it forks the workers, so the workers start with the kernels loaded and share those
pages (LLVM's libraries, the loaded code) with the fork server instead of each loading its
own copy: less memory per worker, and no half-second cache load on a worker's first
image.  The results are thrown away.  Import it only in a process that is going to fork
(it freezes the garbage collector's view of everything alive).
"""

from __future__ import annotations

import gc
import logging

from .cpu_compile import warm_up

log = logging.getLogger(__name__)

try:
    warm_up()
except Exception as exc:  # the workers then load the kernels themselves
    log.warning("compiled CPU kernels not preloaded: %s", exc)
# Every object alive now goes to the collector's permanent generation: a worker's garbage
# collections then never write to them, so their pages stay shared with the fork server
# instead of being copied into each worker.
gc.freeze()
