"""Reconstructor end to end on small frames: results, conventions and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cygno_mw.errors import ConfigError, UsageError
from cygno_mw.gpu.backend import cupy_available
from cygno_mw.gpu.cluster_variables import CLUSTER_VARIABLES
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor

SHAPE = (384, 384)
PARAMS = RecoParams(ymin=0, ymax=SHAPE[0], xmax=SHAPE[1], backend="numpy")


def _maps(level=100.25, sigma=2.0):
    return PedestalMaps(np.full(SHAPE, level), np.full(SHAPE, sigma), 50)


def _render(points_xy, light_each, sigma, shape=SHAPE):
    """Light of Gaussian blobs centred on (x, y) points, float64 image."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    img = np.zeros(shape)
    norm = light_each / (2 * math.pi * sigma**2)
    for x, y in points_xy:
        box = (slice(max(0, int(y - 5 * sigma)), int(y + 5 * sigma) + 1),
               slice(max(0, int(x - 5 * sigma)), int(x + 5 * sigma) + 1))
        img[box] += norm * np.exp(-((xx[box] - x) ** 2 + (yy[box] - y) ** 2) / (2 * sigma**2))
    return img


def _frame(light, noise=0.0, seed=0, level=100.25):
    rng = np.random.default_rng(seed)
    raw = level + light + (rng.normal(0, noise, SHAPE) if noise else 0)
    return np.clip(np.rint(raw), 0, 65535).astype(np.uint16)


@pytest.fixture(scope="module")
def reco():
    return Reconstructor(PARAMS, _maps())


def test_one_spot_gives_one_cluster_with_its_light_and_centroid(reco):
    light = _render([(150.3, 201.7)], 6000.0, 3.0)
    result = reco.process(_frame(light, noise=2.0))
    assert result.backend == "numpy" and result.skipped is None
    assert set(result.clusters) == set(CLUSTER_VARIABLES)
    assert result.n_clusters == 1
    assert {len(v) for v in result.clusters.values()} == {1}
    c = {k: v[0] for k, v in result.clusters.items()}
    # the experiment's frame: X = row, Y = last column - column
    last = SHAPE[1] - 1
    assert c["sc_xmean"] == pytest.approx(201.7, abs=0.5)
    assert c["sc_ymean"] == pytest.approx(last - 150.3, abs=0.5)
    assert c["sc_integral"] == pytest.approx(6000, rel=0.03)
    assert c["sc_rawintegral"] == c["sc_integral"]  # no vignetting map given
    assert c["sc_size"] % 16 == 0 and 0 < c["sc_nhits"] <= c["sc_size"]
    assert c["sc_xmin"] <= 201 <= c["sc_xmax"]
    assert c["sc_ymin"] <= last - 150 <= c["sc_ymax"]
    assert c["sc_tprofsigma"] == pytest.approx(3.0, rel=0.2)
    assert c["sc_lprofsigma"] == pytest.approx(3.0, rel=0.2)
    hits = result.hits
    assert set(hits) == {"row", "col", "cluster", "value"}
    assert (hits["cluster"] == 0).all() and len(hits["row"]) * 16 == c["sc_size"]
    assert result.image["nclusters"] == 1 and result.image["cmos_integral"] > 0
    for step in ("zero_suppression", "median_rebin", "noise_cleaning", "seeding",
                 "directional", "variables", "total"):
        assert result.timings[step] >= 0


@pytest.mark.parametrize("angle_deg", [20.0, -63.0, 88.0])
def test_a_straight_track_is_one_directional_cluster(reco, angle_deg):
    a = math.radians(angle_deg)
    half = 130.0
    s = np.arange(-half, half + 0.1, 0.5)
    centre = (190.0, 192.0)
    points = [(centre[0] + t * math.cos(a), centre[1] + t * math.sin(a)) for t in s]
    light = _render(points, 30.0, 2.5)  # 60 ADU per pixel of length
    result = reco.process(_frame(light, noise=2.0, seed=1))
    assert result.n_clusters == 1 and result.image["n_tracks"] == 1
    c = {k: v[0] for k, v in result.clusters.items()}
    # direction (cos a, sin a) along (column, row) is (sin a, -cos a) along (X, Y): a - 90 deg
    theta = c["sc_theta_major"]
    expected = angle_deg - 90.0
    assert min(abs(theta - expected), 180 - abs(theta - expected)) < 1.0
    assert -90 < theta <= 90
    # the experiment's theta is the major or the minor axis, in (-180, 180]
    axis = c["sc_theta"] % 180
    assert min(abs(axis - expected % 180), 180 - abs(axis - expected % 180)) < 1.0 or \
        min(abs(axis - (expected + 90) % 180), 180 - abs(axis - (expected + 90) % 180)) < 1.0
    # the hits' extent: true length plus the macro-pixel footprint beyond both ends
    assert 2 * half <= c["sc_length"] <= 2 * half + 40
    assert c["sc_tprofsigma"] == pytest.approx(2.5, rel=0.25)
    if abs(angle_deg) < 80:  # X-Y correlation of a thin slanted line is strong, signed
        # (Y runs against the column: minus the column-row correlation)
        assert -c["sc_xycorr"] * math.sin(2 * a) > 0 and abs(c["sc_xycorr"]) > 0.8


def test_flat_banks_batches_and_empty_frames(reco):
    light = _render([(100, 100), (280, 300)], 5000.0, 3.0)
    frame = _frame(light, noise=2.0, seed=2)
    empty = _frame(np.zeros(SHAPE))
    results = reco.process_batch([frame, frame.ravel(), empty, frame.astype(np.int32)])
    assert [r.n_clusters for r in results] == [2, 2, 0, 2]
    np.testing.assert_array_equal(results[0].clusters["sc_integral"],
                                  results[1].clusters["sc_integral"])
    assert results[2].skipped is None and results[2].clusters["sc_integral"].shape == (0,)


def test_saturated_frames_are_sparks_or_empty():
    saturated = np.full(SHAPE, 65535, np.uint16)
    small_threshold = RecoParams.from_mapping({**PARAMS.to_mapping(),
                                               "spark_sum_threshold": 1e6})
    result = Reconstructor(small_threshold, _maps()).process(saturated)
    assert result.skipped == "spark" and result.n_clusters == 0
    no_spark_test = PARAMS.replace(spark_sum_threshold=0)
    result = Reconstructor(no_spark_test, _maps()).process(saturated)
    assert result.skipped is None and result.n_clusters == 0  # all pixels above cimax


def test_bad_input_gives_clear_errors(reco):
    with pytest.raises(UsageError, match="shape"):
        reco.process(np.zeros((100, 100), np.uint16))
    with pytest.raises(UsageError, match="dtype"):
        reco.process(np.zeros(SHAPE, np.float32))
    with pytest.raises(UsageError, match=r"0\.\.65535"):
        reco.process(np.full(SHAPE, -1, np.int32))
    with pytest.raises(ConfigError, match="rebin"):
        Reconstructor(PARAMS.replace(rebin=5), _maps())
    with pytest.raises(ConfigError, match="vignetting"):
        Reconstructor(PARAMS, _maps(), vignette=np.ones((10, 10)))
    bad = np.ones(SHAPE, np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        Reconstructor(PARAMS, _maps(), vignette=bad)
    bad[3, 3] = 0
    with pytest.raises(ConfigError, match="must be > 0"):
        Reconstructor(PARAMS, _maps(), vignette=bad)
    with pytest.raises(UsageError):
        Reconstructor(PARAMS, "pedestal.npz")  # type: ignore[arg-type]


def test_vignetting_correction_divides_by_the_acceptance():
    acceptance = np.full(SHAPE, 0.5, np.float32)
    light = _render([(200, 200)], 4000.0, 3.0)
    frame = _frame(light, noise=1.0, seed=4)
    result = Reconstructor(PARAMS, _maps(), vignette=acceptance).process(frame)
    c = result.clusters
    assert c["sc_integral"][0] == pytest.approx(2 * c["sc_rawintegral"][0], rel=1e-6)


@pytest.mark.skipif(cupy_available(), reason="a GPU is present")
def test_cupy_backend_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="cupy"):
        Reconstructor(PARAMS.replace(backend="cupy"), _maps())
    assert Reconstructor(PARAMS.replace(backend="auto"), _maps()).backend == "numpy"


def test_a_flash_of_light_is_skipped_not_clustered(reco):
    light = np.full(SHAPE, 40.0)  # every macro-pixel lit
    result = reco.process(_frame(light, noise=2.0, seed=5))
    assert result.skipped == "flash" and result.n_clusters == 0
    assert result.image["n_points"] > 0
