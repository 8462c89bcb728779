"""The GPU path's own code, run on the CPU under a CuPy stand-in (tests/cupy_emulation.py).

`Reconstructor(backend='cupy')` goes through GpuFrameSteps (pinned staging, streams,
batches, spark frames), the project's CUDA kernels built for the host, and the GPU
branches of the backend (scatter, bincount, stable sorting), and must reconstruct what the
CPU path does.  This catches what CI could otherwise only see on a GPU: a launcher or call
that CuPy refuses, a Python error in a GPU-only branch, a result that depends on the
order of ties, a kernel reading an upload not ordered before it on its stream.  CuPy's
float reduction orders are not modelled: the gpu tests (test_gpu_parity) check those.
"""

from __future__ import annotations

import cuda_host
import numpy as np
import pytest
from cupy_emulation import Emulation, installed
from reco_compare import assert_same_reconstruction

from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalAccumulator, PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 768)
WINDOW = dict(ymin=64, ymax=448, xmin=0, xmax=768)


@pytest.fixture(scope="module")
def emulation(tmp_path_factory):
    cxx = cuda_host.find_cxx()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or $CXX) to build the CUDA kernels for the host")
    emulation = Emulation(tmp_path_factory.mktemp("cupy_emulation"), cxx)
    with installed(emulation):
        yield emulation


@pytest.fixture(scope="module")
def simulated():
    sensor = SensorModel.generate(3, SHAPE)
    sim = CameraSimulator(sensor, mix=SignalMix(fe55=8, muon=2, nr=2, er=2, close_pairs=2),
                          seed=21)
    images = [sim.image()[0] for _ in range(4)]
    images.append(sim.image(pedestal=True)[0])
    spark = images[0].copy()
    spark[:] = 4000  # a flash over the whole frame: raw sum above the spark threshold
    images.insert(2, spark)
    return sensor, images


def _params(backend: str, **more) -> RecoParams:
    spark = float(SHAPE[0] * SHAPE[1] * 1000)
    return RecoParams(backend=backend, spark_sum_threshold=spark, **WINDOW, **more)


def test_emulated_gpu_reconstruction_equals_cpu(emulation, simulated):
    sensor, images = simulated
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 100)
    vignette = np.linspace(0.5, 1.0, SHAPE[1], dtype=np.float32)[None, :].repeat(SHAPE[0], 0)
    gpu = Reconstructor(_params("cupy", batch_size=4), maps, vignette)
    cpu = Reconstructor(_params("numpy"), maps, vignette)
    assert gpu.backend == "cupy" and "emulation" in gpu.device_name
    ours = gpu.process_batch(images)  # batches of 4 + 2, frames staged into pinned slots
    refs = cpu.process_batch(images)
    assert [r.skipped for r in refs] == [None, None, "spark", None, None, None]
    assert sum(r.n_clusters for r in refs) >= 10 and any(r.image["n_tracks"] for r in refs)
    for result, ref in zip(ours, refs, strict=True):
        assert_same_reconstruction(result, ref)
        assert set(result.timings) >= {"transfer_zero_suppression", "median_rebin", "total"}


def test_emulated_gpu_from_pinned_buffers_out_of_order(emulation, simulated):
    sensor, images = simulated
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 100)
    gpu = Reconstructor(_params("cupy", batch_size=3), maps)
    cpu = Reconstructor(_params("numpy"), maps)
    host = gpu.host_buffer(3)
    for i in range(3):
        host[i] = images[i + 3]
    frames = [host[2], images[0], host[0], host[2].reshape(-1)]  # a flat bank view too
    for result, ref in zip(gpu.process_batch(frames), cpu.process_batch(frames), strict=True):
        assert_same_reconstruction(result, ref)


def test_emulated_gpu_pedestals(emulation):
    rng = np.random.default_rng(0)
    frames = np.rint(rng.normal(100, 2.5, (6, 32, 48))).astype(np.uint16)
    maps = []
    for backend in ("numpy", "cupy"):
        acc = PedestalAccumulator((32, 48), backend=backend)
        assert acc.backend == backend
        for frame in frames:
            acc.add(frame)
        maps.append(acc.result())
    np.testing.assert_array_equal(maps[0].mean, maps[1].mean)
    np.testing.assert_array_equal(maps[0].sigma, maps[1].sigma)
