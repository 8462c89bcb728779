"""Slow-control readings and banks, and the LIME-like ODB."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cygno_mw.banks.slow_control import (
    LIME_LAYOUTS,
    SlowControlBankError,
    decode_slow_control,
    encode_slow_control,
    layout_for_event,
    layouts_from_odb,
    readings_from_banks,
)
from cygno_mw.simulation.odb import end_of_run_odb, lime_like_odb, midas_time
from cygno_mw.simulation.slowcontrol import (
    slow_control_events,
    slow_control_readings,
    slow_control_variables,
)

ODB_FILE = "odb_lime_lngs_run42901.json"


@pytest.fixture(scope="module")
def real_odb(shared_data) -> dict:
    return json.loads((shared_data / ODB_FILE).read_text())


def test_readings_are_deterministic_and_drift_slowly():
    now = slow_control_readings(1000.0, seed=3)
    assert now == slow_control_readings(1000.0, seed=3)
    later = slow_control_readings(1000.0 + 6 * 3600, seed=3)
    assert set(now) == {"HV", "CATHODE", "Environment", "GasSystem"}
    assert now["Environment"]["Temperature"] != later["Environment"]["Temperature"]
    for t in (0.0, 5e4, 3e5):
        readings = slow_control_readings(t, seed=3)
        assert abs(readings["HV"]["VGEM1"] - 400.0) < 2.0
        assert abs(readings["HV"]["Drift"] - 960.0) < 2.0
        assert 15.0 < readings["Environment"]["Temperature"] < 22.0
        assert 880.0 < readings["Environment"]["Pressure"] < 940.0
        assert 30.0 < readings["Environment"]["Humidity"] < 60.0
        assert abs(readings["GasSystem"]["STS_FT_Tot"] - 5.0) < 0.2


def test_slow_control_bank_round_trip():
    for layout, banks in slow_control_events(42.0, seed=1):
        assert layout_for_event(layout.event_id) is layout
        assert all(len(name) == 4 and data.dtype == np.float32 for name, data in banks.items())
        decoded = decode_slow_control(layout, banks)
        variables = slow_control_variables(42.0, seed=1)[layout.equipment]
        for variable, values in variables.items():
            assert list(decoded[variable]) == list(layout.names_for(variable))
            assert np.allclose(list(decoded[variable].values()), values, rtol=1e-6)
        readings = readings_from_banks(layout, banks)
        expected = slow_control_readings(42.0, seed=1)[layout.equipment]
        assert readings == pytest.approx(expected, rel=1e-6)
    assert {lay.event_id for lay in LIME_LAYOUTS.values()} == {3, 4, 5, 6}


def test_slow_control_bank_errors():
    hv = LIME_LAYOUTS["HV"]
    with pytest.raises(SlowControlBankError, match="values for"):
        encode_slow_control(hv, {"Demand": [1.0], "Measured": [1.0], "Current": [1.0]})
    with pytest.raises(SlowControlBankError, match="no values"):
        encode_slow_control(hv, {"Demand": np.zeros(11)})
    with pytest.raises(SlowControlBankError, match="channel names"):
        decode_slow_control(hv, {"MSRD": np.zeros(3, np.float32)})
    with pytest.raises(SlowControlBankError, match="none of its banks"):
        decode_slow_control(hv, {"INPT": np.zeros(11, np.float32)})


def test_layouts_from_the_real_odb(real_odb):
    layouts = layouts_from_odb(real_odb)
    assert {"HV", "CATHODE", "Environment", "GasSystem"} <= set(layouts)
    hv = layouts["HV"]
    assert (hv.event_id, hv.variables) == (3, ("Demand", "Measured", "Current"))
    assert hv.names == tuple(real_odb["Equipment"]["HV"]["Settings"]["Names"])
    measured = np.asarray(real_odb["Equipment"]["HV"]["Variables"]["Measured"], np.float32)
    decoded = decode_slow_control(hv, {"MSRD": measured})["Measured"]
    assert decoded["VGEM1"] == pytest.approx(400.06, abs=0.01)
    assert "broken[16]" in decoded  # repeated names keep their index
    assert layouts["Environment"].variables == ("Input",)
    assert layouts["Environment"].names[0] == "P0IIn0"
    assert layouts["CATHODE"].names == ("ISEG_HPS",)


def test_simulated_odb_layouts_match_the_simulation():
    assert layouts_from_odb(lime_like_odb(1, pedestal=False)) == LIME_LAYOUTS


def _paths(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}/{key}"
        yield path
        if isinstance(value, dict):
            yield from _paths(value, path)


def _has(tree: dict, path: str) -> bool:
    for part in path.strip("/").split("/"):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


@pytest.mark.parametrize("pedestal", [False, True])
def test_odb_key_paths_exist_in_the_real_dump(real_odb, pedestal):
    odb = lime_like_odb(42, pedestal=pedestal, exposure=0.5)
    missing = [p for p in _paths(odb) if not _has(real_odb, p)]
    assert missing == []
    for path in ("/Runinfo/Run number", "/Runinfo/Start time", "/Runinfo/Start time binary",
                 "/Runinfo/Stop time", "/Configurations/Exposure", "/Configurations/Pedestal",
                 "/Configurations/run_type", "/middleware/nsigma", "/Logger/Data dir",
                 "/Experiment/Name", "/Equipment/Trigger/Common/Event ID"):
        assert _has(odb, path), path
    assert odb["Configurations"]["Pedestal"] is pedestal
    assert odb["Configurations"]["Exposure"] == 0.5
    assert odb["Runinfo"]["Run number"] == 42
    assert len(odb["Configurations"]["DigitizerOffset"]) == len(
        real_odb["Configurations"]["DigitizerOffset"])


def test_odb_times_and_end_of_run():
    odb = lime_like_odb(7, pedestal=False, start_time=1702593197)
    assert odb["Runinfo"]["Start time"] == midas_time(1702593197)
    assert odb["Runinfo"]["Start time binary"] == 1702593197
    assert odb["Runinfo"]["State"] == 3 and odb["Runinfo"]["Stop time binary"] == 0
    eor = end_of_run_odb(odb, stop_time=1702593297, events=12, bytes_written=10**6)
    assert eor["Runinfo"]["State"] == 1 and eor["Runinfo"]["Stop time binary"] == 1702593297
    assert eor["Equipment"]["Trigger"]["Statistics"]["Events sent"] == 12
    assert odb["Runinfo"]["State"] == 3  # the begin-of-run copy is untouched
