"""The camera simulation: sensor maps, images, signals and their truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cygno_mw.errors import UsageError
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import KINDS, SignalMix
from cygno_mw.simulation.truth import load_truth, save_truth, truth_metadata, truth_path_for
from cygno_mw.vignetting import builtin_vignette_map

SMALL = (384, 384)


@pytest.fixture(scope="module")
def sensor() -> SensorModel:
    return SensorModel.generate(7, SMALL)


def test_sensor_maps_statistics():
    sensor = SensorModel.generate(11, (512, 512), pedestal_level=100.0, noise_level=2.5,
                                  hot_pixels=20)
    assert sensor.pedestal.dtype == np.float32 and sensor.noise.dtype == np.float32
    normal = np.ones(sensor.pedestal.size, bool)
    normal[sensor.hot_pixels] = False
    pedestal, noise = sensor.pedestal.reshape(-1)[normal], sensor.noise.reshape(-1)[normal]
    assert abs(pedestal.mean() - 100.0) < 0.1
    assert 1.0 < pedestal.std() < 2.0  # pixel-to-pixel spread
    assert abs(np.median(noise) - 2.5) < 0.05
    assert 0.2 < noise.std() < 1.5  # spread, with a tail of noisy pixels
    assert sensor.hot_pixels.size == 20
    assert np.all(sensor.pedestal.reshape(-1)[sensor.hot_pixels] > 250)
    assert np.all(sensor.noise.reshape(-1)[sensor.hot_pixels] > 5)


def test_sensor_maps_depend_only_on_camera_seed():
    a, b = SensorModel.generate(3, SMALL), SensorModel.generate(3, SMALL)
    c = SensorModel.generate(4, SMALL)
    assert np.array_equal(a.pedestal, b.pedestal) and np.array_equal(a.noise, b.noise)
    assert not np.array_equal(a.pedestal, c.pedestal)


def test_images_are_deterministic_given_seed(sensor):
    first = CameraSimulator(sensor, seed=5).image()
    again = CameraSimulator(sensor, seed=5).image()
    other = CameraSimulator(sensor, seed=6).image()
    assert np.array_equal(first[0], again[0])
    assert len(first[1]) == len(again[1]) > 0
    for a, b in zip(first[1], again[1], strict=True):
        assert (a.kind, a.x, a.y, a.light, a.light_sensor) == (
            b.kind, b.x, b.y, b.light, b.light_sensor)
        assert np.array_equal(a.footprint, b.footprint)
    assert not np.array_equal(first[0], other[0])


def test_pedestal_images_have_no_signal(sensor):
    camera = CameraSimulator(sensor, seed=1)
    images = []
    for _ in range(8):
        image, truth = camera.image(pedestal=True)
        assert truth == [] and image.dtype == np.uint16 and image.shape == SMALL
        images.append(image.astype(np.float32))
    stack = np.stack(images)
    residual = stack - sensor.pedestal
    assert abs(residual.mean()) < 0.02
    # per pixel: mean ≈ pedestal map, spread ≈ noise map; nothing signal-like anywhere
    assert np.abs(residual.mean(axis=0) / sensor.noise).max() < 3.0 / math.sqrt(8) * 2.5
    pulls = residual / sensor.noise
    assert abs(pulls.std() - 1.0) < 0.05
    assert np.abs(pulls).max() < 7.0


def test_image_dtype_range_and_truth_fields(sensor):
    mix = SignalMix(fe55=3, muon=1, nr=1, er=1, close_pairs=1)
    image, truth = CameraSimulator(sensor, mix=mix, seed=2).image()
    assert image.dtype == np.uint16 and image.shape == SMALL
    assert sorted({s.kind for s in truth}) <= sorted(KINDS)
    assert sum(s.kind == "muon" for s in truth) == 1
    assert sum(s.group == 0 for s in truth) == 2  # the close pair
    assert [s.time for s in truth] == sorted(s.time for s in truth)
    rows, cols = SMALL
    for s in truth:
        assert 0 <= s.x < cols and 0 <= s.y < rows
        assert s.light > 0 and 0 < s.light_sensor < s.light
        assert s.footprint.dtype == np.int64 and np.all(np.diff(s.footprint) > 0)
        assert s.footprint_light.shape == s.footprint.shape
        assert math.isnan(s.theta) if s.kind == "fe55" else -math.pi / 2 < s.theta <= math.pi / 2
    muon = next(s for s in truth if s.kind == "muon")
    assert muon.length > 0.4 * min(SMALL)  # crosses a large part of the frame
    fe55 = [s for s in truth if s.kind == "fe55"]
    assert all(1.5 < s.sigma < 7.0 for s in fe55)


def test_close_pairs_are_close(sensor):
    mix = SignalMix(fe55=0, muon=0, nr=0, er=0, close_pairs=3)
    _, truth = CameraSimulator(sensor, mix=mix, seed=9).image()
    for group in range(3):
        a, b = (s for s in truth if s.group == group)
        assert math.hypot(a.x - b.x, a.y - b.y) < 80.0


def test_injected_light_matches_image_over_footprint():
    """Σ (image − pedestal) over an isolated signal's footprint = its sensor light ± noise."""
    shape = (1024, 1024)
    sensor = SensorModel.generate(21, shape, hot_pixels=0)
    vignette = builtin_vignette_map(shape)
    camera = CameraSimulator(sensor, vignette, SignalMix(fe55=6, muon=1, nr=2, er=2), seed=4)
    image, truth = camera.image()
    signal_map = image.astype(np.float64) - sensor.pedestal
    noise2 = sensor.noise.astype(np.float64).reshape(-1) ** 2
    checked = 0
    for i, s in enumerate(truth):
        others = np.concatenate([t.footprint for j, t in enumerate(truth) if j != i])
        if np.intersect1d(s.footprint, others).size:
            continue  # overlapping signals share pixels
        measured = signal_map.reshape(-1)[s.footprint].sum()
        tolerance = 5.0 * math.sqrt(noise2[s.footprint].sum() + s.footprint.size / 12.0)
        assert abs(measured - s.light_sensor) < tolerance, (s.kind, measured, s.light_sensor)
        # vignetting + photon statistics: sensor light ≈ light × mean acceptance seen
        acceptance = vignette.reshape(-1)[s.footprint]
        expected = s.light * np.average(acceptance, weights=s.footprint_light)
        assert abs(s.light_sensor - expected) < 0.05 * expected + 5 * math.sqrt(4.0 * expected)
        checked += 1
    assert checked >= 5


def test_signals_stay_below_spark_threshold():
    sensor = SensorModel.generate(5, hot_pixels=0)
    mix = SignalMix(fe55=10, muon=2, nr=4, er=4, close_pairs=3)
    image, truth = CameraSimulator(sensor, mix=mix, seed=8).image()
    assert len(truth) == 26
    assert image.max() < 5000
    assert max(s.footprint_light.max() for s in truth) < 4000


def test_signal_mix_parse_and_errors():
    mix = SignalMix.parse("fe55=5, muon=1,close_pairs=2,poisson=1")
    assert (mix.fe55, mix.muon, mix.nr, mix.er, mix.close_pairs, mix.poisson) == (
        5, 1, 0, 0, 2, True)
    assert SignalMix.parse(mix.describe()) == mix
    for bad in ("fe55", "fe55=x", "gamma=3", "fe55=-1"):
        with pytest.raises(UsageError):
            SignalMix.parse(bad)
    rates = SignalMix.from_rates(0.3, fe55=10.0)
    assert rates.poisson and rates.fe55 == pytest.approx(3.0) and rates.muon == 0


def test_region_limits_compact_signals(sensor):
    mix = SignalMix(fe55=8, muon=0, nr=0, er=0, region=(100, 200, 50, 150))
    _, truth = CameraSimulator(sensor, mix=mix, seed=3).image()
    assert all(95 < s.y < 205 and 45 < s.x < 155 for s in truth)
    with pytest.raises(UsageError):
        CameraSimulator(sensor, vignette=np.ones((10, 10), np.float32))


def test_truth_round_trip(tmp_path, sensor):
    camera = CameraSimulator(sensor, mix=SignalMix(fe55=2, muon=1, er=1, nr=0), seed=1)
    events = [camera.image()[1], [], camera.image()[1]]
    path = save_truth(tmp_path / "run00007.truth.parquet", events, shape=SMALL,
                      metadata={"run_number": 7})
    assert truth_metadata(path)["n_events"] == 3
    assert truth_metadata(path)["shape"] == list(SMALL)
    back = load_truth(path)
    assert sorted(back) == [0, 1, 2] and back[1] == []
    for written, read in zip(events[0] + events[2], back[0] + back[2], strict=True):
        assert read.kind == written.kind and read.x == written.x
        assert read.light_sensor == written.light_sensor
        assert np.array_equal(read.footprint, written.footprint)
        assert np.array_equal(read.footprint_light, written.footprint_light)
        rows, cols = read.footprint_rc(SMALL[1])
        assert np.array_equal(rows * SMALL[1] + cols, written.footprint)


def test_truth_path_for():
    assert truth_path_for("/d/run00042.mid.lz4").name == "run00042.truth.parquet"
    assert truth_path_for("run00042.mid").name == "run00042.truth.parquet"
    assert truth_path_for("x/run1.mid.gz").as_posix() == "x/run1.truth.parquet"
