"""The compiled shortcuts of the variables step give their definitions' results bit for bit:
find_peaks' last peak, NumPy's pairwise sum, np.cov, and profile_sigma of the array code."""

from __future__ import annotations

import dataclasses

import numpy as np

from cygno_mw.gpu.backend import get_backend
from cygno_mw.gpu.cluster_variables import _cov2, profile_sigma
from cygno_mw.gpu.cpu_clustering import pairwise_sum64
from cygno_mw.gpu.profile_peaks import main_peak, scipy_main_peak


def _profiles(rng: np.random.Generator, count: int):
    """Random profiles: smooth, noisy, and integer-valued ones full of plateaus and ties."""
    for t in range(count):
        n_bins = int(rng.integers(1, 60))
        edges = np.concatenate(([0.0], np.cumsum(rng.integers(1, 4, n_bins)))).astype(float)
        kind = t % 4
        if kind == 0:
            content = rng.normal(5, 4, n_bins)
        elif kind == 1:
            content = np.round(rng.normal(5, 4, n_bins))
        elif kind == 2:
            centre, width = n_bins / 2, n_bins / 6 + 1
            content = 10 * rng.exponential(3, n_bins) * np.exp(
                -0.5 * ((np.arange(n_bins) - centre) / width) ** 2)
        else:
            content = np.round(rng.uniform(0, 8, n_bins) * 2) / 2
        yield edges, content.astype(np.float32)


def test_main_peak_equals_scipy_find_peaks_on_random_profiles():
    rng = np.random.default_rng(23)
    found = 0
    for edges, content in _profiles(rng, 4000):
        ours = main_peak(edges, content)
        assert ours == scipy_main_peak(edges, content)
        found += ours[0] != -999.0
    assert found > 1000  # the comparison covers profiles with peaks


def test_pairwise_sum64_is_numpy_sum_bit_for_bit():
    rng = np.random.default_rng(5)
    for size in [*range(0, 300), 511, 1024, 1031, 5000]:
        a = rng.normal(0, 1, size) * 10.0 ** rng.integers(-3, 8, size)
        assert np.float64(pairwise_sum64(a)).tobytes() == np.float64(a.sum()).tobytes()


def test_cov2_is_np_cov_bit_for_bit():
    rng = np.random.default_rng(7)
    for size in range(2, 300):
        xy = np.stack((rng.integers(0, 576, size), rng.integers(0, 576, size))).astype(float)
        assert _cov2(xy).tobytes() == np.cov(xy).tobytes()
        xy += rng.normal(0, 1e-3, xy.shape)
        assert _cov2(xy).tobytes() == np.cov(xy).tobytes()


def test_compiled_profile_sigma_is_the_array_codes():
    compiled = get_backend("numpy")
    assert compiled.compiled
    arrays = dataclasses.replace(compiled, compiled=False)
    rng = np.random.default_rng(11)
    n = 40
    seg = np.sort(rng.integers(0, n, 6000))
    seg[:n] = np.arange(n)  # every segment has hits
    seg = np.sort(seg)
    position = rng.uniform(0, 1, seg.size) * rng.integers(1, 60, n)[seg]
    value = rng.normal(20, 15, seg.size) * np.exp(-0.5 * ((position - 15) / 5) ** 2)
    value[seg == 3] = -1.0  # nothing to fit: NaN on both
    ours = profile_sigma(position, value, seg, n, compiled)
    theirs = profile_sigma(position, value, seg, n, arrays)
    assert ours.tobytes() == theirs.tobytes()
    assert np.isfinite(ours).sum() > n // 2 and np.isnan(ours[3])
