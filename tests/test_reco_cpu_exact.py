"""The compiled CPU path equals the NumPy array reference (reference_cpu) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu import cpu_kernels
from cygno_mw.gpu.frame_cpu import CpuFrameSteps, clean_rebinned_cpu
from cygno_mw.gpu.noise_cleaning import clean_rebinned
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor
from cygno_mw.gpu.reference_cpu import NumpyFrameSteps, reference_reconstructor
from cygno_mw.gpu.zero_suppression import threshold_map

pytest.importorskip("cygno_mw.simulation.camera")

from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix


def assert_identical(ours, ref):
    """Same skip reason, whole-image numbers, hits and cluster variables, bit for bit."""
    assert ours.skipped == ref.skipped
    assert ours.image == ref.image
    assert ours.hits.keys() == ref.hits.keys()
    for key, values in ref.hits.items():
        assert ours.hits[key].dtype == values.dtype
        np.testing.assert_array_equal(ours.hits[key], values, err_msg=key)
    assert ours.clusters.keys() == ref.clusters.keys()
    for name, values in ref.clusters.items():
        assert ours.clusters[name].tobytes() == values.tobytes(), name


@pytest.fixture(scope="module")
def sensor():
    return SensorModel.generate(seed=19)


@pytest.fixture(scope="module")
def recos(sensor):
    from cygno_mw.vignetting import load_vignette_map

    maps = PedestalMaps(sensor.pedestal, sensor.noise, 100)
    vignette = load_vignette_map(None, maps.shape)  # the built-in model: sc_integral
    params = RecoParams(backend="numpy")
    return (Reconstructor(params, maps, vignette),
            reference_reconstructor(params, maps, vignette), params)


def _images(sensor, mix, seed, n=2, pedestal=False):
    sim = CameraSimulator(sensor, mix=mix, seed=seed)
    return [sim.image(pedestal=pedestal)[0] for _ in range(n)]


@pytest.mark.parametrize(
    ("mix", "seed"),
    [
        (SignalMix(), 1),
        (SignalMix(fe55=30, muon=3, nr=3, er=3, close_pairs=3), 2),
        (SignalMix(fe55=0, muon=6, nr=0, er=0, close_pairs=0), 3),
    ],
)
def test_simulated_frames(sensor, recos, mix, seed):
    ours, ref, _ = recos
    for image in _images(sensor, mix, seed):
        result = ours.process(image)
        assert result.n_clusters > 0
        assert_identical(result, ref.process(image))


def test_pedestal_frame(sensor, recos):
    ours, ref, _ = recos
    (image,) = _images(sensor, SignalMix(), 4, n=1, pedestal=True)
    assert_identical(ours.process(image), ref.process(image))


def test_sparks_flashes_hot_pixels_and_saturation(sensor, recos):
    ours, ref, params = recos
    (image,) = _images(sensor, SignalMix(), 5, n=1)
    rng = np.random.default_rng(5)
    hot = image.copy()
    flat = rng.choice(hot.size, 3000, replace=False)
    hot.flat[flat[:1000]] = params.cimax  # exactly at the cut: dropped
    hot.flat[flat[1000:2000]] = params.cimax - 1  # just below: kept
    hot.flat[flat[2000:]] = 65535
    hot[900:940, 1000:1100] = 65535  # a saturated blob
    spark = np.full_like(image, 3000)
    flash = image.copy()
    flash[400:2000, :] += 60  # light everywhere, below the spark sum
    for frame in (hot, spark, flash):
        a, b = ours.process(frame), ref.process(frame)
        assert_identical(a, b)
    assert ours.process(spark).skipped == "spark"
    assert ours.process(flash).skipped == "flash"


def test_real_pixel_lists_on_a_simulated_pedestal(shared_data, sensor, recos):
    ours, ref, _ = recos
    files = sorted((shared_data / "pixels").glob("*.npy"))
    assert files
    (base,) = _images(sensor, SignalMix(), 6, n=1, pedestal=True)
    for k, path in enumerate(files):
        pixels = np.load(path)
        rows = pixels[:, 0].astype(np.int64)
        cols = pixels[:, 1].astype(np.int64)
        rows = rows - rows.min() + 400 + 150 * k
        cols = cols - cols.min() + 200 + 100 * k
        inside = (rows < 2304) & (cols < 2304)
        image = base.astype(np.int64)
        image[rows[inside], cols[inside]] += np.rint(pixels[inside, 2]).astype(np.int64)
        image = np.clip(image, 0, 65535).astype(np.uint16)
        result = ours.process(image)
        assert result.n_clusters > 0
        assert_identical(result, ref.process(image))


def _small_frame(shape, seed):
    rng = np.random.default_rng(seed)
    pedestal = (rng.uniform(95, 105, shape)).astype(np.float32)
    noise = (rng.uniform(1.5, 3.5, shape)).astype(np.float32)
    raw = np.rint(pedestal + rng.normal(0, 2.5, shape)).astype(np.int64)
    raw.flat[rng.choice(raw.size, raw.size // 10, replace=False)] += rng.integers(5, 400)
    raw.flat[rng.choice(raw.size, 5, replace=False)] = 6000
    return raw.astype(np.uint16), pedestal, noise


WINDOWS = [(0, 72, 0, 48), (9, 50, 4, 40), (13, 72, 0, 45), (0, 31, 3, 48)]


@pytest.mark.parametrize("rebin", [1, 2, 3, 4])
@pytest.mark.parametrize("window", WINDOWS)
def test_steps_1_to_4_on_windows_and_rebins(rebin, window):
    y0, y1, x0, x1 = window
    p = RecoParams(ymin=y0, ymax=y1, xmin=x0, xmax=x1, rebin=rebin, spark_sum_threshold=0)
    raw, pedestal, noise = _small_frame((72, 48), seed=rebin + y0 + x1)
    thr = threshold_map(noise, p)
    ours = CpuFrameSteps(p, pedestal, thr).run(raw)
    ref = NumpyFrameSteps(p, pedestal, thr).run(raw)
    assert ours.rebinned.tobytes() == ref.rebinned.tobytes()
    assert ours.stats == ref.stats
    expected = clean_rebinned(ref.rebinned, p, np)
    assert ours.cleaned.tobytes() == expected.tobytes()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 8), (3, 3), (4, 127), (2, 128),
                                   (8, 129), (40, 25), (4, 2048), (8, 8193), (12, 100_003)])
def test_one_pass_steps_2_to_4_are_numpys(shape):
    """Zero-suppressed sums, 2x2 median and block means in one pass equal the NumPy
    reference's zs.sum(), np.square(zs).sum() and rebinned band, on awkward sizes: leaves
    of the pairwise sum that span several rows, rows that are not multiples of 8."""
    from cygno_mw.gpu.rebin import median_rebin_rows
    from cygno_mw.gpu.zero_suppression import zero_suppress_rows

    rows, size = shape
    rng = np.random.default_rng(rows * size)
    pedestal = rng.uniform(95, 105, shape).astype(np.float32)
    threshold = rng.uniform(0, 8, shape).astype(np.float32)
    threshold[rng.random(shape) < 0.1] = np.inf
    raw = np.rint(pedestal + rng.exponential(6, shape)).astype(np.uint16)
    raw[rng.random(shape) < 0.01] = 5000
    zs = np.empty(shape, np.float32)
    zero_suppress_rows(raw, pedestal, threshold, 5000, (0, rows), zs, np.empty_like(zs))
    for rebin in (r for r in (1, 2, 4) if rows % r == 0 and size % r == 0):
        for mirror_top in (True, False):
            out = np.full((rows // rebin, size // rebin), np.nan, np.float32)
            total, squares = cpu_kernels.zero_suppress_median_rebin(
                raw, pedestal, threshold, 5000, mirror_top, rebin, out)
            assert total == float(zs.sum())
            assert squares == float(np.square(zs).sum())
            top = zs[:1] if mirror_top else np.zeros((1, size), np.float32)
            expected = np.empty_like(out)
            median_rebin_rows(np.vstack([top, zs]), rebin, np.empty_like(zs),
                              np.empty_like(zs), expected)
            assert out.tobytes() == expected.tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_compiled_cleaning_equals_the_array_fixed_point(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    density = rng.uniform(0.2, 0.95)
    image = (rng.random((n, n + 5)) < density) * rng.exponential(rng.uniform(0.5, 6), (n, n + 5))
    image[rng.random(image.shape) < 0.04] = 40.0
    image = image.astype(np.float32)
    for p in (RecoParams(), RecoParams(min_neighbors_average=0, clean_min_active=0)):
        ours = clean_rebinned_cpu(image, p)
        assert ours.tobytes() == clean_rebinned(image, p, np).tobytes()


@pytest.mark.parametrize("seed", range(9))
def test_compiled_seeding_equals_the_array_code(seed):
    from cygno_mw.gpu.backend import numpy_backend
    from cygno_mw.gpu.dbscan_seeding import dbscan_seed
    from cygno_mw.gpu.reference_cpu import reference_backend

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 120)), int(rng.integers(20, 120)))
    n = int(rng.integers(1, shape[0] * shape[1] // 3))
    flat = rng.choice(shape[0] * shape[1], n, replace=False)
    rows, cols = np.divmod(flat, shape[1])
    weights = (rng.exponential(1.5, n) + 0.5).astype(np.float32)
    eps = [1.0, 2.5, 3.0, 5.0, 7.9, 12.0, 12.0, 20.0, 70.0][seed]  # 70: 141-term sums
    min_samples = float(rng.uniform(1, 1 + 2 * eps))
    ours = dbscan_seed(rows, cols, weights, eps, min_samples, shape, numpy_backend())
    ref = dbscan_seed(rows, cols, weights, eps, min_samples, shape, reference_backend())
    assert ours.n_clusters == ref.n_clusters > 0
    np.testing.assert_array_equal(ours.is_core, ref.is_core)
    np.testing.assert_array_equal(ours.labels, ref.labels)
    np.testing.assert_array_equal(ours.sizes, ref.sizes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_compiled_segment_operations_equal_numpys(dtype):
    from cygno_mw.gpu.backend import numpy_backend
    from cygno_mw.gpu.reference_cpu import reference_backend

    rng = np.random.default_rng(3)
    segments = rng.integers(0, 40, 5000)
    values = rng.normal(0, 10, 5000)
    if np.dtype(dtype).kind == "f":
        values[rng.choice(5000, 300, replace=False)] = 0.0
        values[rng.choice(5000, 300, replace=False)] = -0.0
        values[:3] = np.nan
    values = values.astype(dtype)
    ours, ref = numpy_backend(), reference_backend()
    assert ours.compiled and not ref.compiled
    for name, fill in (("segment_min", 1e9), ("segment_max", -1e9)):
        got = getattr(ours, name)(values, segments, 45, fill)
        with np.errstate(invalid="ignore"):  # the NaNs
            expected = getattr(ref, name)(values, segments, 45, fill)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), name
    got, expected = ours.segment_sum(values, segments, 45), ref.segment_sum(values, segments, 45)
    assert got.tobytes() == expected.tobytes()
