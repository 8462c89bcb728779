"""A run's exposure_s: `/Configurations/Exposure` when set, else the camera's own setting."""

from __future__ import annotations

from cygno_mw.analyzers.run_info import begin_of_run_fields


def odb(configured=None, cameras=None) -> dict:
    tree: dict = {"Equipment": {f"Camera{i}": {"Settings": {"Exposure": e}}
                                for i, e in (cameras or {}).items()}}
    if configured is not None:
        tree["Configurations"] = {"Exposure": configured}
    return tree


def test_configured_exposure_wins():
    assert begin_of_run_fields(1, odb(0.2, {0: 0.5}))["exposure_s"] == 0.2


def test_camera_exposure_where_the_configuration_is_absent_or_zero():
    assert begin_of_run_fields(1, odb(None, {1: 0.5, 0: 0.3}))["exposure_s"] == 0.3
    assert begin_of_run_fields(1, odb(0.0, {2: 0.4}))["exposure_s"] == 0.4


def test_no_exposure_anywhere_leaves_it_null():
    assert "exposure_s" not in begin_of_run_fields(1, odb())
