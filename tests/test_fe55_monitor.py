"""The 55Fe light-yield monitor: round compact spots only, one estimate per window and camera."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.analyzers.fe55_monitor import Fe55Monitor, Fe55Selection


def clusters(rng: np.random.Generator, spots: int, tracks: int, peak: float) -> dict:
    """`spots` round 30 px spots of light ~ N(peak, 8 %), `tracks` long bright tracks."""
    light = np.concatenate([rng.normal(peak, 0.08 * peak, spots),
                            rng.uniform(20 * peak, 50 * peak, tracks)])
    length = np.concatenate([rng.uniform(28, 34, spots), rng.uniform(300, 900, tracks)])
    width = np.concatenate([rng.uniform(26, 30, spots), rng.uniform(10, 20, tracks)])
    return {"sc_integral": light, "sc_corrintegral": light, "sc_length": length,
            "sc_width": width}


def test_peak_and_width_of_the_spots_per_window_and_camera() -> None:
    rng = np.random.default_rng(5)
    monitor = Fe55Monitor(Fe55Selection(window_s=60.0, min_clusters=10))
    points = []
    for second in range(0, 120, 3):  # two windows of 20 images; the gain drops by 10 %
        peak = 5000.0 if second < 60 else 4500.0
        points += monitor.add(7, 0, 1000.0 + second, clusters(rng, 5, 2, peak))
        points += monitor.add(7, 1, 1000.0 + second, clusters(rng, 1, 0, peak))
    points += monitor.end_run(7)
    by_camera = {camera: [p for p in points if p.camera == camera] for camera in (0, 1)}
    first, second = by_camera[0]
    assert first.peak == pytest.approx(5000, rel=0.03)
    assert second.peak == pytest.approx(4500, rel=0.03)
    assert first.width == pytest.approx(400, rel=0.3) and first.clusters == 100
    assert first.time == 1057.0 and second.time == 1117.0
    assert [p.clusters for p in by_camera[1]] == [20, 20]
    assert monitor.end_run(7) == []


def test_too_few_spots_give_no_estimate_and_empty_images_count_no_spot() -> None:
    monitor = Fe55Monitor(Fe55Selection(min_clusters=10))
    rng = np.random.default_rng(1)
    assert monitor.add(3, 0, 0.0, clusters(rng, 4, 3, 5000.0)) == []
    assert monitor.add(3, 0, 1.0, {"sc_integral": np.zeros(0), "sc_length": np.zeros(0),
                                   "sc_width": np.zeros(0)}) == []
    assert monitor.end_run(3) == []


def test_selection_keeps_the_real_lime_spots_and_drops_the_tracks(shared_data) -> None:
    """One real LIME event: two 55Fe-like spots (light ~4.2k ADU), a round blob, tracks."""
    variables = {"sc_integral": [], "sc_length": [], "sc_width": []}
    for index in range(7):
        hits = np.load(shared_data / "pixels" / f"sclu_{index}.npy")
        xy = hits[:, :2] - hits[:, :2].mean(axis=0)
        _, axes = np.linalg.eigh(np.cov(xy.T))  # unweighted principal axes, as sc_length's
        along, across = xy @ axes[:, 1], xy @ axes[:, 0]
        variables["sc_integral"].append(hits[:, 2].sum())
        variables["sc_length"].append(np.ptp(along))
        variables["sc_width"].append(np.ptp(across))
    arrays = {k: np.array(v) for k, v in variables.items()}
    kept = Fe55Monitor()._select(arrays)
    tracks = arrays["sc_length"] > 300
    assert tracks.sum() == 3 and not np.isin(arrays["sc_integral"][tracks], kept).any()
    spots = np.sort(kept[kept < 10_000])
    assert len(spots) == 2 and spots == pytest.approx([4148, 4377], abs=10)
