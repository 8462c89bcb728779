"""The full-resolution vignetting map: measured LIME file laid as the experiment lays it,
built-in model."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cygno_mw.errors import CygnoError
from cygno_mw.vignetting import (
    builtin_vignette_map,
    experiment_blocks,
    load_vignette_map,
    physical_acceptance,
)

VIGNETTE_FILE = "vignette_lime_runs03930to03932.root"


@pytest.fixture(scope="module")
def measured(shared_data) -> np.ndarray:
    return load_vignette_map(shared_data / VIGNETTE_FILE)


def test_measured_map_shape_and_range(measured):
    assert measured.shape == (2304, 2304) and measured.dtype == np.float32
    covered = measured[:2296, 8:]
    assert np.isfinite(covered).all()
    assert 0.99 < covered.max() <= 1.0
    assert 0.2 < covered.min() < 0.25
    assert measured[1151:1153, 1151:1153].min() > 0.99  # centre
    assert max(covered[0, 0], covered[0, -1], covered[-1, 0], covered[-1, -1]) < 0.3


def test_measured_map_edge_is_the_experiments_zero_correction(measured):
    """287 blocks of 8 px cover 2296 px: the last 8 rows and raw columns 0-7 (the last
    columns of the experiment's mirrored frame) keep its correction 0 (acceptance +inf)."""
    assert np.isposinf(measured[2296:, :]).all()
    assert np.isposinf(measured[:, :8]).all()
    assert np.isfinite(measured[:2296, 8:]).all()


def test_measured_map_is_8px_blocks(measured):
    covered = measured[:2296, 8:]
    blocks = covered.reshape(287, 8, 287, 8)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert np.abs(np.diff(blocks[:, 0, :, 0], axis=0)).max() < 0.02


def _experiments_layout(values: np.ndarray, npix: int) -> np.ndarray:
    """cameraTools.loadVignettingMap from reading it: a zero npix x npix correction map in
    its frame; block sizes int(npix / bins); block (ibx, iby) gets 1 / values[iby, ibx]."""
    correction = np.zeros((npix, npix))
    bx = int(npix / values.shape[0])
    by = int(npix / values.shape[1])
    for ibx in range(values.shape[0]):
        for iby in range(values.shape[1]):
            correction[ibx * bx : (ibx + 1) * bx, iby * by : (iby + 1) * by] = (
                1.0 / values[iby, ibx]
            )
    return correction


def test_layout_is_the_experiments_on_a_small_uneven_map():
    """7 x 7 bins over 30 px: blocks of 4, the last 2 rows/columns of its frame uncovered;
    light z = v / acceptance equals its v * correction on its mirrored frame."""
    rng = np.random.default_rng(3)
    values = rng.uniform(0.2, 1.0, (7, 7)).astype(np.float32)  # [x bin, y bin]
    ours = experiment_blocks(values, (30, 30))
    theirs = _experiments_layout(values.astype(np.float64), 30)
    v = rng.normal(50, 20, (30, 30))
    np.testing.assert_allclose(v / ours.astype(np.float64), np.fliplr(np.fliplr(v) * theirs),
                               rtol=1e-7, atol=0)
    assert np.isposinf(ours[28:, :]).all() and np.isposinf(ours[:, :2]).all()


def test_physical_acceptance_holds_the_nearest_block(measured):
    acc = physical_acceptance(measured)
    assert np.isfinite(acc).all()
    assert np.array_equal(acc[:2296, 8:], measured[:2296, 8:])
    assert (acc[2300, 100] == measured[2295, 100]) and (acc[50, 3] == measured[50, 8])


def test_builtin_model_resembles_the_measurement(measured):
    measured = physical_acceptance(measured)
    model = builtin_vignette_map()
    assert model.shape == measured.shape and model.dtype == np.float32
    assert np.abs(model - measured).mean() < 0.01
    assert np.abs(model - measured).max() < 0.05


def test_builtin_model_range_any_shape():
    for shape in ((2304, 2304), (128, 96)):
        model = builtin_vignette_map(shape)
        assert model.shape == shape
        assert 0.99 < model.max() <= 1.0
        assert 0.2 <= model.min() < 0.26


def test_no_path_or_missing_file_gives_builtin(tmp_path, caplog):
    assert np.array_equal(load_vignette_map(None, (64, 64)), builtin_vignette_map((64, 64)))
    with caplog.at_level(logging.WARNING):
        fallback = load_vignette_map(tmp_path / "absent.root", (64, 64))
    assert np.array_equal(fallback, builtin_vignette_map((64, 64)))
    assert "not found" in caplog.text


def test_unreadable_file_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"this is not a ROOT file" * 10)
    with pytest.raises(CygnoError, match="not a readable ROOT file"):
        load_vignette_map(junk)


def test_missing_histogram_is_a_clear_error(shared_data):
    with pytest.raises(CygnoError, match="no histogram"):
        load_vignette_map(shared_data / VIGNETTE_FILE, histogram="no_such_map")
