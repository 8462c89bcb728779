"""GPU (CuPy) results equal CPU (NumPy) results; skipped cleanly without CuPy or a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu.backend import cupy_available
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalAccumulator, PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA GPU"),
]


def _simulated(n_images: int):
    camera = pytest.importorskip("cygno_mw.simulation.camera")
    from cygno_mw.simulation.sensor import SensorModel
    from cygno_mw.simulation.signals import SignalMix

    sensor = SensorModel.generate(seed=7)
    sim = camera.CameraSimulator(
        sensor, mix=SignalMix(fe55=10, muon=2, nr=2, er=2, close_pairs=2), seed=3
    )
    images = [sim.image()[0] for _ in range(n_images)]
    images.append(sim.image(pedestal=True)[0])
    return sensor, images


def test_gpu_reconstruction_equals_cpu():
    sensor, images = _simulated(5)
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 100)
    vignette = np.asarray(sim_vignette(sensor.shape), dtype=np.float32)
    cpu = Reconstructor(RecoParams(backend="numpy"), maps, vignette)
    gpu = Reconstructor(RecoParams(backend="cupy", batch_size=4), maps, vignette)
    assert gpu.backend == "cupy" and "GPU" in gpu.device_name
    for ours, ref in zip(gpu.process_batch(images), cpu.process_batch(images), strict=True):
        assert ours.backend == "cupy" and ours.skipped == ref.skipped
        assert ours.n_clusters == ref.n_clusters
        for key in ("row", "col", "cluster"):
            np.testing.assert_array_equal(ours.hits[key], ref.hits[key])
        np.testing.assert_array_equal(ours.hits["value"], ref.hits["value"])  # bit-exact
        for name, values in ref.clusters.items():
            np.testing.assert_allclose(ours.clusters[name], values, rtol=1e-6, atol=1e-6,
                                       equal_nan=True, err_msg=name)
        for name in ("cmos_integral", "cmos_mean", "cmos_rms", "raw_mean"):
            assert ours.image[name] == pytest.approx(ref.image[name], rel=1e-5)


def test_gpu_pedestals_equal_cpu():
    rng = np.random.default_rng(0)
    frames = np.rint(rng.normal(100, 2.5, (8, 64, 96))).astype(np.uint16)
    results = []
    for backend in ("numpy", "cupy"):
        acc = PedestalAccumulator((64, 96), backend=backend)
        for frame in frames:
            acc.add(frame)
        results.append(acc.result())
    np.testing.assert_array_equal(results[0].mean, results[1].mean)
    np.testing.assert_allclose(results[0].sigma, results[1].sigma, rtol=1e-6)


def sim_vignette(shape):
    from cygno_mw.vignetting import builtin_vignette_map

    return builtin_vignette_map(shape)
