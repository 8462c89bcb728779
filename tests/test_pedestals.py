"""Pedestal maps from a streaming pass: exact for integer frames, robust file handling."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.errors import CygnoError, UsageError
from cygno_mw.gpu.pedestals import PedestalAccumulator, PedestalMaps


def _frames(n: int, shape=(16, 24), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = rng.uniform(95, 105, shape)
    return np.rint(level + rng.normal(0, 2.5, (n, *shape))).astype(np.uint16)


def test_matches_mean_and_sample_std_of_the_stack():
    frames = _frames(30)
    acc = PedestalAccumulator(frames.shape[1:], backend="numpy")
    for frame in frames:
        acc.add(frame)
    maps = acc.result()
    assert acc.backend == "numpy" and maps.n_images == 30
    assert maps.mean.dtype == np.float32 and maps.sigma.dtype == np.float32
    np.testing.assert_allclose(maps.mean, frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(maps.sigma, frames.std(axis=0, ddof=1), rtol=1e-5, atol=1e-6)


def test_order_does_not_matter_and_flat_banks_are_accepted():
    frames = _frames(12, seed=3)
    forward, backward = (PedestalAccumulator((16, 24), backend="numpy") for _ in range(2))
    for frame in frames:
        forward.add(frame.ravel())
    for frame in frames[::-1]:
        backward.add(frame)
    a, b = forward.result(), backward.result()
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=1e-5)


def test_bad_input_is_a_usage_error():
    acc = PedestalAccumulator((16, 24), backend="numpy")
    with pytest.raises(UsageError, match="shape"):
        acc.add(np.zeros((16, 25), np.uint16))
    with pytest.raises(UsageError, match="NaN"):
        acc.add(np.full((16, 24), np.nan))
    with pytest.raises(UsageError, match="dtype"):
        acc.add(np.zeros((16, 24), dtype=object))
    acc.add(np.zeros((16, 24), np.uint16))
    with pytest.raises(UsageError, match="at least 2"):
        acc.result()


def test_save_and_load_round_trip(tmp_path):
    maps = PedestalMaps(np.full((4, 8), 100.5), np.full((4, 8), 2.0), 7)
    written = maps.save(tmp_path / "ped")
    assert written.suffix == ".npz"
    loaded = PedestalMaps.load(written)
    np.testing.assert_array_equal(loaded.mean, maps.mean)
    np.testing.assert_array_equal(loaded.sigma, maps.sigma)
    assert loaded.n_images == 7 and loaded.shape == (4, 8)
    assert loaded.summary()["pedestal_mean"] == pytest.approx(100.5)


def test_unusable_maps_and_files_give_clear_errors(tmp_path):
    with pytest.raises(CygnoError, match="NaN"):
        PedestalMaps(np.full((4, 4), np.nan), np.ones((4, 4)), 2)
    with pytest.raises(CygnoError, match="negative"):
        PedestalMaps(np.ones((4, 4)), -np.ones((4, 4)), 2)
    with pytest.raises(CygnoError, match="shape"):
        PedestalMaps(np.ones((4, 4)), np.ones((4, 5)), 2)
    with pytest.raises(CygnoError, match="does not exist"):
        PedestalMaps.load(tmp_path / "missing.npz")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, something=np.ones(3))
    with pytest.raises(CygnoError, match="not a pedestal file"):
        PedestalMaps.load(foreign)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(CygnoError, match="cannot be read"):
        PedestalMaps.load(garbage)
