"""The full-resolution vignetting map: measured LIME file, resampling, built-in model."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cygno_mw.errors import CygnoError
from cygno_mw.vignetting import builtin_vignette_map, load_vignette_map, resample_bilinear

VIGNETTE_FILE = "vignette_lime_runs03930to03932.root"


@pytest.fixture(scope="module")
def measured(shared_data) -> np.ndarray:
    return load_vignette_map(shared_data / VIGNETTE_FILE)


def test_measured_map_shape_and_range(measured):
    assert measured.shape == (2304, 2304) and measured.dtype == np.float32
    assert 0.99 < measured.max() <= 1.0
    assert 0.2 < measured.min() < 0.25
    assert measured[1151:1153, 1151:1153].min() > 0.99  # centre
    assert max(measured[0, 0], measured[0, -1], measured[-1, 0], measured[-1, -1]) < 0.3


def test_measured_map_is_smooth(measured):
    # 287 bins over 2304 px: bilinear steps are ≤ a bin's change / 8 px
    assert np.abs(np.diff(measured, axis=0)).max() < 0.01
    assert np.abs(np.diff(measured, axis=1)).max() < 0.01


def test_builtin_model_resembles_the_measurement(measured):
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


def test_resample_bilinear_is_exact_on_linear_maps():
    bins = np.add.outer(np.arange(10.0), 2 * np.arange(12.0)).astype(np.float32)
    out = resample_bilinear(bins, (80, 96))  # 8 px per bin
    # pixel centre (r + 0.5) / 8 - 0.5 in bin units; linear in the interior
    r, c = 40, 50
    expected = ((r + 0.5) / 8 - 0.5) + 2 * ((c + 0.5) / 8 - 0.5)
    assert out[r, c] == pytest.approx(expected, abs=1e-5)
    assert resample_bilinear(np.full((5, 5), 0.7, np.float32), (33, 17)) == pytest.approx(0.7)
