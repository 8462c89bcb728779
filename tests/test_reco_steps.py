"""Steps 1-5 against straightforward references (scipy median filter, the experiment's loop)."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu.frame_cpu import CpuFrameSteps
from cygno_mw.gpu.noise_cleaning import clean_rebinned
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.rebin import reference_median_rebin
from cygno_mw.gpu.zero_suppression import threshold_map


def _frame(shape, seed, cimax_hits=5):
    """Raw frame, and pedestal/noise maps on a quarter-ADU grid (exact float32 arithmetic)."""
    rng = np.random.default_rng(seed)
    pedestal = np.round(rng.uniform(95, 105, shape) * 4) / 4
    noise = np.round(rng.uniform(1.5, 3.5, shape) * 4) / 4
    raw = np.rint(pedestal + rng.normal(0, 2.5, shape)).astype(np.int64)
    r, c = rng.integers(0, shape[0], 20), rng.integers(0, shape[1], 20)
    raw[r, c] += rng.integers(20, 400, 20)  # some signal
    raw.flat[rng.choice(raw.size, cimax_hits, replace=False)] = 6000  # saturated pixels
    return raw.astype(np.uint16), pedestal.astype(np.float32), noise.astype(np.float32)


def _reference_zs(raw, pedestal, noise, p):
    """The experiment's steps 1-3 in float64."""
    img = np.where(raw < p.cimax, raw, 0).astype(np.float64) - pedestal
    zs = np.where(img > p.nsigma * noise.astype(np.float64), img, 0.0)
    zs[: p.ymin, :] = 0
    zs[p.ymax :, :] = 0
    zs[:, : p.xmin] = 0
    zs[:, p.xmax :] = 0
    return zs


@pytest.mark.parametrize(
    "window", [(0, 64, 0, 48), (9, 50, 4, 40), (12, 64, 0, 45), (0, 31, 3, 48)]
)
def test_steps_1_to_4_equal_the_straightforward_version(window):
    y0, y1, x0, x1 = window
    p = RecoParams(ymin=y0, ymax=y1, xmin=x0, xmax=x1, nsigma=0.6, spark_sum_threshold=0)
    raw, pedestal, noise = _frame((64, 48), seed=y0 + 7 * x1)
    steps = CpuFrameSteps(p, pedestal, threshold_map(noise, p))
    out = steps.run(raw)
    zs = _reference_zs(raw, pedestal, noise, p)
    expected = reference_median_rebin(zs, p.rebin)
    # quarter-ADU inputs keep every float32 operation exact
    np.testing.assert_array_equal(out.rebinned, expected.astype(np.float32))
    assert out.stats["cmos_integral"] == pytest.approx(zs.sum(), rel=1e-6)
    assert out.stats["cmos_rms"] == pytest.approx(zs.std(), rel=1e-5)
    assert out.skipped is None


def test_spark_frames_are_skipped():
    p = RecoParams(spark_sum_threshold=1000)
    raw, pedestal, noise = _frame((16, 16), seed=1, cimax_hits=0)
    out = CpuFrameSteps(p, pedestal, threshold_map(noise, p)).run(raw)
    assert out.skipped == "spark" and not out.rebinned.any()


def _experiment_nred(image, p):
    """CYGNUS-RD nred_cython transcribed literally (float32 scalars, in-place raster loop),
    on the image in the experiment's frame (the caller mirrors it)."""
    e = image.astype(np.float64).copy()
    n_rows, n_cols = e.shape
    b = p.clean_border
    e[:b, :] = 0
    e[-b:, :] = 0
    e[:, :b] = 0
    e[:, -b:] = 0
    f32 = np.float32
    for k in range(1, n_rows - 2):
        for j in range(1, n_cols - 2):
            a, bb, c = f32(e[k - 1, j - 1]), f32(e[k, j - 1]), f32(e[k + 1, j - 1])
            d, spx, f = f32(e[k - 1, j]), f32(e[k, j]), f32(e[k + 1, j])
            g, h, i = f32(e[k - 1, j + 1]), f32(e[k, j + 1]), f32(e[k + 1, j + 1])
            mean = (a + bb + c + d + f + g + h + i) / f32(8)
            if abs(spx - mean) > p.clean_outlier:
                e[k, j] = mean
            if mean < p.min_neighbors_average:
                e[k, j] = 0
            active = sum(v != 0 for v in (a, bb, c, d, spx, f, g, h, i))
            if active < p.clean_min_active:
                e[k, j] = 0
    return e.astype(np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_noise_cleaning_is_the_experiments_in_place_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40))
    density = rng.uniform(0.2, 0.95)
    image = (rng.random((n, n + 3)) < density) * rng.exponential(rng.uniform(0.5, 6), (n, n + 3))
    image[rng.random(image.shape) < 0.04] = 40.0  # outliers to be replaced by the mean
    image = image.astype(np.float32)
    p = RecoParams()
    # the experiment runs the loop on np.fliplr of the camera array
    expected = np.fliplr(_experiment_nred(np.fliplr(image), p))
    np.testing.assert_array_equal(clean_rebinned(image, p, np), expected)


def test_noise_cleaning_removes_pure_noise_at_lime_settings():
    """The in-place semantics matters: white noise leaves no clustering points."""
    rng = np.random.default_rng(5)
    shape = (512, 512)
    p = RecoParams(ymin=0, ymax=512, xmax=512, spark_sum_threshold=0)
    pedestal = np.full(shape, 100.3, np.float32)
    noise = np.full(shape, 2.5, np.float32)
    raw = np.rint(pedestal + rng.normal(0, 2.5, shape)).astype(np.uint16)
    out = CpuFrameSteps(p, pedestal, threshold_map(noise, p)).run(raw)
    assert (out.rebinned > p.point_threshold).sum() > 1000  # plenty of noise before
    assert (clean_rebinned(out.rebinned, p, np) > p.point_threshold).sum() == 0
