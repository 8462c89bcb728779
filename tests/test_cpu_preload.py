"""The fork server's preload loads every compiled CPU kernel real images use."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from cygno_mw.gpu.synthetic import synthetic_frame

CHECK = """
import json
from numba.core.registry import CPUDispatcher
import cygno_mw.gpu.cpu_preload
from cygno_mw.gpu import cpu_clustering, cpu_kernels
print(json.dumps({name: len(fn.signatures)
                  for module in (cpu_kernels, cpu_clustering)
                  for name, fn in vars(module).items()
                  if isinstance(fn, CPUDispatcher) and not name.startswith("_")}))
"""


def test_importing_the_preload_loads_every_public_kernel():
    # a fresh interpreter: this test process may have loaded kernels already
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=300, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(loaded) >= 10, loaded
    assert [name for name, n in loaded.items() if n == 0] == []


def test_the_synthetic_frame_is_a_camera_frame():
    frame = synthetic_frame()
    assert frame.shape == (2304, 2304) and frame.dtype == np.uint16
    assert np.array_equal(frame, synthetic_frame())  # seeded: the same frame every time
