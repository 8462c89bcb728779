"""The fork server's preload loads every compiled CPU kernel that real images use."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cygno_mw.gpu.synthetic import synthetic_frame

LOADED = """
import json
from numba.core.registry import CPUDispatcher
from cygno_mw.gpu import cpu_clustering, cpu_kernels
def loaded():
    return sorted(f"{module.__name__}.{name}"
                  for module in (cpu_kernels, cpu_clustering)
                  for name, fn in vars(module).items()
                  if isinstance(fn, CPUDispatcher) and fn.signatures)
"""

PRELOAD = LOADED + """
import cygno_mw.gpu.cpu_preload
print(json.dumps(loaded()))
"""

SIMULATED = LOADED + """
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix
from cygno_mw.vignetting import load_vignette_map
sensor = SensorModel.generate(seed=19)
maps = PedestalMaps(sensor.pedestal, sensor.noise, 100)
reco = Reconstructor(RecoParams(backend="numpy"), maps, load_vignette_map(None, maps.shape))
mix = SignalMix(fe55=30, muon=3, nr=3, er=3, close_pairs=3)
for seed in range(3):
    reco.process(CameraSimulator(sensor, mix=mix, seed=seed).image()[0])
print(json.dumps(loaded()))
"""


def _fresh(code: str) -> list[str]:
    """Run in a fresh interpreter: this test process may have loaded kernels already."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_preload_loads_every_kernel_simulated_images_use():
    pytest.importorskip("cygno_mw.simulation.camera")
    # A kernel compiled here (cold cache) gives its helpers signatures too; one loaded from
    # the cache does not.  So the cache is made warm first, and both runs load from it.
    _fresh(PRELOAD)
    used = _fresh(SIMULATED)
    assert len(used) >= 10, used
    assert sorted(set(used) - set(_fresh(PRELOAD))) == []


def test_the_synthetic_frame_is_a_camera_frame():
    frame = synthetic_frame()
    assert frame.shape == (2304, 2304) and frame.dtype == np.uint16
    assert np.array_equal(frame, synthetic_frame())  # seeded: the same frame every time
