"""The CUDA kernels' logic equals the CPU path's, checked on the host without a GPU.

Every source of cuda_kernels is compiled with g++ against a shim of the CUDA built-ins
(cuda_host_shim.h) and launched through the same Python launchers the GPU path uses, with
NumPy arrays in place of device arrays.  On simulated frames the zero-suppressed, rebinned
and cleaned images must equal the CPU path's bit for bit, as the GPU's must.
"""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu import cuda_kernels
from cygno_mw.gpu.frame_cpu import CpuFrameSteps
from cygno_mw.gpu.noise_cleaning import clean_rebinned, zero_border
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.zero_suppression import threshold_map
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 768)
# a band inside the frame (LIME-like), and a window touching the top and left edges
WINDOWS = {
    "band": dict(ymin=72, ymax=446, xmin=0, xmax=768),
    "edges": dict(ymin=0, ymax=300, xmin=0, xmax=700),
}


@pytest.fixture(scope="module")
def frames():
    """Simulated raw frames with tracks and spots, a few saturated pixels, the maps."""
    sensor = SensorModel.generate(5, SHAPE)
    sim = CameraSimulator(sensor, mix=SignalMix(fe55=6, muon=1, nr=2, er=2, close_pairs=1),
                          seed=9)
    images = [sim.image()[0] for _ in range(3)]
    rng = np.random.default_rng(1)
    images[0].flat[rng.choice(images[0].size, 40, replace=False)] = 6000  # above cimax
    images[1].flat[rng.choice(images[1].size, 40, replace=False)] = 5000  # == cimax
    return sensor, np.stack(images)


def _params(window: str) -> RecoParams:
    return RecoParams(backend="numpy", **WINDOWS[window])


def _bits(a: np.ndarray) -> np.ndarray:
    """The float32 bit patterns (so -0.0 != 0.0 and NaNs compare)."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _host_zero_suppress(host, raw, pedestal, threshold, cimax):
    n = raw.shape[0]
    zs = np.empty(raw.shape, dtype=np.float32)
    ped = np.ascontiguousarray(np.broadcast_to(pedestal, raw.shape), dtype=np.float32)
    thr = np.ascontiguousarray(np.broadcast_to(threshold, raw.shape), dtype=np.float32)
    host["cygno_zero_suppress"](
        (7,), (64,), (raw, ped, thr, np.int32(cimax), zs, np.int64(raw.size))
    )
    assert zs.shape[0] == n
    return zs


def _host_steps(host, raw, sensor, params):
    """Steps 2-5 of a stack of frames with the host build of the GPU kernels."""
    threshold = threshold_map(sensor.noise, params)
    zs = _host_zero_suppress(host, raw, sensor.pedestal, threshold, params.cimax)
    n, rows, cols = raw.shape
    r = params.rebin
    rebinned = np.full((n, rows // r, cols // r), np.nan, dtype=np.float32)
    cuda_kernels.median_rebin(zs, rebinned, r, kernel=host["cygno_median_rebin"])
    bordered = zero_border(rebinned, params.clean_border, np)
    cleaned = bordered.copy()
    cuda_kernels.noise_clean(bordered, cleaned, params.clean_outlier,
                             params.min_neighbors_average, params.clean_min_active,
                             kernel=host["cygno_noise_clean"])
    return threshold, zs, rebinned, cleaned


def test_zero_suppression_equals_numpy(host, frames):
    sensor, raw = frames
    params = _params("band")
    threshold = threshold_map(sensor.noise, params)
    zs = _host_zero_suppress(host, raw, sensor.pedestal, threshold, params.cimax)
    value = raw.astype(np.float32) - sensor.pedestal
    expected = np.where((raw < params.cimax) & (value > threshold), value, np.float32(0))
    np.testing.assert_array_equal(_bits(zs), _bits(expected))
    assert (zs > 0).sum() > 1000  # signal and noise pass, the window's outside does not
    assert not zs[:, : params.ymin].any() and not zs[:, params.ymax :].any()


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_rebin_and_cleaning_equal_the_cpu_path(host, frames, window):
    sensor, raw = frames
    params = _params(window)
    threshold, _, rebinned, cleaned = _host_steps(host, raw, sensor, params)
    cpu = CpuFrameSteps(params, sensor.pedestal, threshold)
    for i, frame in enumerate(raw):
        out = cpu.run(frame)
        assert out.skipped is None
        np.testing.assert_array_equal(_bits(rebinned[i]), _bits(out.rebinned))
        expected = clean_rebinned(out.rebinned, params, np)
        np.testing.assert_array_equal(_bits(cleaned[i]), _bits(expected))
        if out.cleaned is not None:  # a CPU path that cleans in its frame steps
            np.testing.assert_array_equal(_bits(cleaned[i]), _bits(out.cleaned))
        assert (cleaned[i] > params.point_threshold).sum() > 20  # tracks survive cleaning


def test_cleaning_with_fewer_threads_than_rows(host, frames):
    """The wavefront loop strides over rows when a block has fewer threads than rows."""
    sensor, raw = frames
    params = _params("band")
    kernel = host["cygno_noise_clean"]
    _, _, rebinned, reference = _host_steps(host, raw[:1], sensor, params)
    bordered = zero_border(rebinned, params.clean_border, np)
    for threads in (1, 5, 32):
        kernel.max_block = threads
        try:
            cleaned = bordered.copy()
            cuda_kernels.noise_clean(bordered, cleaned, params.clean_outlier,
                                     params.min_neighbors_average, params.clean_min_active,
                                     kernel=kernel)
        finally:
            kernel.max_block = None
        np.testing.assert_array_equal(_bits(cleaned), _bits(reference))


def test_cleaning_of_tiny_images_and_random_grids(host):
    params = RecoParams(backend="numpy", clean_border=1)
    kernel = host["cygno_noise_clean"]
    tiny = np.ones((2, 3, 9), dtype=np.float32)
    out = tiny.copy()
    cuda_kernels.noise_clean(tiny, out, 10.0, 1.2, 3, kernel=kernel)
    assert not out.any()  # fewer than 4 rows: nothing survives, as on the CPU
    rng = np.random.default_rng(4)
    for shape in ((4, 4), (5, 37), (41, 6), (64, 64)):
        image = rng.exponential(2.0, shape).astype(np.float32)
        image[rng.random(shape) < 0.4] = 0
        bordered = zero_border(image[None], params.clean_border, np)
        cleaned = bordered.copy()
        cuda_kernels.noise_clean(bordered, cleaned, params.clean_outlier,
                                 params.min_neighbors_average, params.clean_min_active,
                                 kernel=kernel)
        expected = clean_rebinned(image, params, np)
        np.testing.assert_array_equal(_bits(cleaned[0]), _bits(expected), err_msg=str(shape))


@pytest.mark.parametrize("rebin", [1, 2, 3, 4, 8])
def test_median_rebin_for_every_rebin_factor(host, rebin):
    """Block sums in the NumPy order for any factor, mirrored top and left edges."""
    rng = np.random.default_rng(rebin)
    rows, cols = 12 * rebin, 10 * rebin
    raw = rng.integers(1, 300, (2, rows, cols)).astype(np.uint16)
    raw[rng.random(raw.shape) < 0.5] = 0
    zs = raw.astype(np.float32)  # a zero pedestal and a threshold below 0 keep every value
    out = np.empty((2, rows // rebin, cols // rebin), dtype=np.float32)
    cuda_kernels.median_rebin(zs, out, rebin, kernel=host["cygno_median_rebin"])
    params = RecoParams(backend="numpy", ymin=0, ymax=rows, xmin=0, xmax=cols, rebin=rebin)
    pedestal = np.zeros((rows, cols), dtype=np.float32)
    threshold = np.full((rows, cols), -1.0, dtype=np.float32)
    cpu = CpuFrameSteps(params, pedestal, threshold)
    for i in range(2):
        np.testing.assert_array_equal(_bits(out[i]), _bits(cpu.run(raw[i]).rebinned))


def test_sum_of_squares(host):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 30, (3, 1000)).astype(np.float32)
    y = np.empty(3, dtype=np.float64)
    host["cygno_sum_of_squares"]((1,), (2,), (x, y, np.int64(3), np.int64(1000)))
    expected = np.square(x.astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-13)


def test_launch_arguments_are_checked(host):
    """A launcher passing a Python int or a float64 array would fail here, not on a GPU."""
    kernel = host["cygno_median_rebin"]
    zs = np.zeros((1, 8, 8), dtype=np.float32)
    out = np.zeros((1, 2, 2), dtype=np.float32)
    with pytest.raises(TypeError, match="int32 scalar"):
        kernel((1,), (32,), (zs, out, 1, np.int32(8), np.int32(8), np.int32(4)))
    with pytest.raises(TypeError, match="float32 array"):
        kernel((1,), (32,), (zs.astype(np.float64), out, np.int32(1), np.int32(8),
                             np.int32(8), np.int32(4)))
