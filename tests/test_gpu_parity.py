"""GPU (CuPy) results equal CPU (NumPy) results; skipped cleanly without CuPy or a GPU.

Steps 2-5 must be bit-identical (the kernels repeat the CPU's float32 operations); the
clusters must be the same point sets (labels equal up to a permutation) with variables
within float32 rounding; whole-frame sums within float32 rounding.  Run on simulated LIME
images and on frames made of the real pixel lists of the shared data.
"""

from __future__ import annotations

import numpy as np
import pytest
from reco_compare import assert_same_reconstruction

from cygno_mw.gpu.backend import cupy_available, get_backend
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalAccumulator, PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cupy_available(), reason="needs CuPy >= 14.2 and a CUDA GPU"),
]

FULL_WINDOW = dict(ymin=0, ymax=2304, xmin=0, xmax=2304)


@pytest.fixture(scope="module")
def simulated():
    camera = pytest.importorskip("cygno_mw.simulation.camera")
    from cygno_mw.simulation.sensor import SensorModel
    from cygno_mw.simulation.signals import SignalMix

    sensor = SensorModel.generate(seed=7)
    sim = camera.CameraSimulator(
        sensor, mix=SignalMix(fe55=10, muon=2, nr=2, er=2, close_pairs=2), seed=3
    )
    images = [sim.image()[0] for _ in range(5)]
    images.append(sim.image(pedestal=True)[0])
    return sensor, images


@pytest.fixture(scope="module")
def real_frames(shared_data):
    """Full frames holding the real clusters of the shared data on simulated noise: the
    seven clusters of one real event in one frame, the large real track in another."""
    from cygno_mw.simulation.sensor import SensorModel

    files = sorted((shared_data / "pixels").glob("*.npy"))
    assert files, f"no pixel lists in {shared_data / 'pixels'}"
    sensor = SensorModel.generate(seed=11)
    rng = np.random.default_rng(5)
    groups = [[f for f in files if f.name.startswith("sclu_")],
              [f for f in files if not f.name.startswith("sclu_")]]
    frames = []
    for group in groups:
        if not group:
            continue
        light = np.zeros(sensor.shape)
        for path in group:
            pixels = np.load(path)
            x, y = pixels[:, 0].astype(int), pixels[:, 1].astype(int)  # x: column, y: row
            light[y, x] += pixels[:, 2]
        raw = sensor.pedestal + sensor.noise * rng.standard_normal(sensor.shape) + light
        frames.append(np.clip(np.rint(raw), 0, 65535).astype(np.uint16))
    return sensor, frames


def _maps(sensor) -> PedestalMaps:
    return PedestalMaps(sensor.pedestal, sensor.noise, 100)


def _vignette(shape):
    from cygno_mw.vignetting import builtin_vignette_map

    return np.asarray(builtin_vignette_map(shape), dtype=np.float32)


def test_frame_steps_are_bit_identical(simulated):
    """Steps 2-5 (zero suppression, median, rebin, cleaning) on the GPU == CPU, bit for bit."""
    from cygno_mw.gpu.frame_cpu import CpuFrameSteps
    from cygno_mw.gpu.frame_gpu import GpuFrameSteps
    from cygno_mw.gpu.noise_cleaning import clean_rebinned
    from cygno_mw.gpu.zero_suppression import threshold_map

    sensor, images = simulated
    for window in ({}, FULL_WINDOW):
        params = RecoParams(backend="cupy", batch_size=4, **window)
        threshold = threshold_map(sensor.noise, params)
        backend = get_backend("cupy")
        gpu = GpuFrameSteps(params, sensor.pedestal, threshold, backend)
        cpu = CpuFrameSteps(params, sensor.pedestal, threshold)
        outs = gpu.run_batch(images[:4])
        for image, out in zip(images[:4], outs, strict=True):
            ref = cpu.run(image)
            assert out.skipped == ref.skipped
            np.testing.assert_array_equal(
                backend.to_host(out.rebinned).view(np.uint32), ref.rebinned.view(np.uint32)
            )
            expected = ref.cleaned if ref.cleaned is not None else clean_rebinned(
                ref.rebinned, params, np)
            np.testing.assert_array_equal(
                backend.to_host(out.cleaned).view(np.uint32), expected.view(np.uint32)
            )
            for name, value in ref.stats.items():
                assert out.stats[name] == pytest.approx(value, rel=1e-5), name


def test_gpu_reconstruction_equals_cpu(simulated):
    sensor, images = simulated
    maps, vignette = _maps(sensor), _vignette(sensor.shape)
    cpu = Reconstructor(RecoParams(backend="numpy"), maps, vignette)
    gpu = Reconstructor(RecoParams(backend="cupy", batch_size=4), maps, vignette)
    assert gpu.backend == "cupy" and "GPU" in gpu.device_name
    results = gpu.process_batch(images)  # two batches: 4 + 2, frames copied to pinned slots
    assert sum(r.n_clusters for r in results) > 10
    for ours, ref in zip(results, cpu.process_batch(images), strict=True):
        assert_same_reconstruction(ours, ref)


def test_gpu_reconstruction_from_pinned_buffers(simulated):
    """Frames decoded straight into the pinned host buffer are sent from where they are."""
    sensor, images = simulated
    maps = _maps(sensor)
    gpu = Reconstructor(RecoParams(backend="cupy", batch_size=3), maps)
    cpu = Reconstructor(RecoParams(backend="numpy"), maps)
    host = gpu.host_buffer(3)
    for i in range(3):
        host[i] = images[i]
    frames = [host[2], host[0], images[4]]  # own slots out of order, plus a pageable frame
    for ours, ref in zip(gpu.process_batch(frames), cpu.process_batch(frames), strict=True):
        assert_same_reconstruction(ours, ref)


def test_gpu_equals_cpu_on_real_clusters(real_frames):
    sensor, frames = real_frames
    maps = _maps(sensor)
    cpu = Reconstructor(RecoParams(backend="numpy", **FULL_WINDOW), maps)
    gpu = Reconstructor(RecoParams(backend="cupy", batch_size=2, **FULL_WINDOW), maps)
    results = gpu.process_batch(frames)
    assert results[0].n_clusters >= 5  # the real event's clusters are found
    for ours, ref in zip(results, cpu.process_batch(frames), strict=True):
        assert_same_reconstruction(ours, ref)


def test_seeding_equals_cpu_on_real_pixel_lists(shared_data):
    """The DBSCAN seeding of the real clusters' macro-pixels, on both backends."""
    from cygno_mw.gpu.dbscan_seeding import dbscan_seed
    from cygno_mw.gpu.rebin import reference_median_rebin

    p = RecoParams()
    cpu, gpu = get_backend("numpy"), get_backend("cupy")
    for path in sorted((shared_data / "pixels").glob("*.npy")):
        pixels = np.load(path)
        x, y = pixels[:, 0].astype(int), pixels[:, 1].astype(int)
        r0, c0 = (y.min() // 4) * 4 - 32, (x.min() // 4) * 4 - 32
        shape = (((y.max() - r0) // 4 + 9) * 4, ((x.max() - c0) // 4 + 9) * 4)
        image = np.zeros(shape, dtype=np.float32)
        image[y - r0, x - c0] = pixels[:, 2]
        rebinned = reference_median_rebin(np.where(image > 1.2, image, 0), 4)
        rows, cols = np.nonzero(rebinned > p.point_threshold)
        weights = rebinned[rows, cols].astype(np.float32)
        ref = dbscan_seed(rows, cols, weights, p.eps, p.min_samples, rebinned.shape, cpu)
        ours = dbscan_seed(gpu.asarray(rows), gpu.asarray(cols), gpu.asarray(weights), p.eps,
                           p.min_samples, rebinned.shape, gpu)
        assert ours.n_clusters == ref.n_clusters, path.name
        np.testing.assert_array_equal(gpu.to_host(ours.is_core), ref.is_core)
        np.testing.assert_array_equal(gpu.to_host(ours.labels), ref.labels)


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
