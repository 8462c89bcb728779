"""The real LIME ODB (run 42901) as the begin-of-run dump: Run row, slow control, parameters.

The file is built here with MidasWriter: the real dump as BOR, two simulated camera images,
and one slow-control event per equipment encoded with the layouts the real ODB defines
(HV with 26 channels, the gas system with 330, repeated names included).
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.banks.slow_control import encode_slow_control, layouts_from_odb
from cygno_mw.cli import main
from cygno_mw.midasfile import MidasWriter, open_midas
from cygno_mw.midasfile.odbdump import odb_get, read_odb_dump
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

RUN = 42901


@pytest.fixture(scope="module")
def lime_odb(shared_data: Path) -> dict:
    return read_odb_dump((shared_data / "odb_lime_lngs_run42901.json").read_bytes()).tree


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sim")
    pedestal = simulate_run(folder / "run00001.mid.lz4", 1, 3, pedestal=True)
    physics = simulate_run(folder / "run00002.mid.lz4", 2, 2, with_pmt=False,
                           with_slow_control=False, mix=SignalMix(fe55=3, muon=0, nr=0, er=0))
    return {"pedestal": pedestal.path, "physics": physics.path}


def lime_file(path: Path, odb: dict, physics: Path) -> Path:
    """A run file whose begin-of-run dump is `odb`, with slow-control and camera events."""
    with open_midas(physics) as midas:
        images = [event.banks["CAM0"].data.copy() for event in midas]
    start = int(odb_get(odb, "/Runinfo/Start time binary"))
    with MidasWriter(path, RUN, odb) as writer:
        for name, layout in layouts_from_odb(odb).items():
            variables = {v: np.atleast_1d(odb_get(odb, f"/Equipment/{name}/Variables/{v}"))
                         for v in layout.variables}
            writer.write(layout.event_id, encode_slow_control(layout, variables),
                         timestamp=start + 1)
        for serial, image in enumerate(images):
            writer.write(1, {"CAM0": image}, serial_number=serial, timestamp=start + 2 + serial)
    return path


def test_run_row_and_slow_control_from_the_real_dump(lime_odb: dict, simulated: dict,
                                                     tmp_path: Path) -> None:
    path = lime_file(tmp_path / "run42901.mid", lime_odb, simulated["physics"])
    out = tmp_path / "out"
    assert main(["replay", "-q", "-o", str(out), "--pedestal", str(simulated["pedestal"]),
                 str(path)]) == 0
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        row = db.runs(RUN).iloc[0]
        sc = db.slow_control(runs=RUN)
        macro = db.macro(RUN)
    assert row["description"] == "Standard - LOW Gain"
    assert row["start_time"] == dt.datetime(2023, 12, 14, 22, 33, 17)
    assert row["exposure_s"] == pytest.approx(0.3)
    expected = {"gem1_v": 400, "gem2_v": 400, "gem3_v": 400, "t1_v": 500, "t2_v": 500,
                "drift_v": 960, "offset_v": 10, "pmt1_v": 772, "pmt2_v": 772, "pmt3_v": 800,
                "pmt4_v": 770, "hv_state": 1}
    assert {k: row[k] for k in expected} == expected
    assert row["number_of_events"] == 2 and row["reco_status"] == "done"
    assert list(macro["event"]) == [0, 1]

    hv = sc[sc["equipment"] == "HV"].set_index("variable")["value"]
    assert hv["VGEM1"] == pytest.approx(400.06, abs=1e-3)
    assert hv["PMT3_demand"] == 800 and "broken[16]" in hv.index
    gas = sc[sc["equipment"] == "GasSystem"]
    assert len(gas) == 2 * 330
    assert set(sc["equipment"]) == {"HV", "CATHODE", "Environment", "GasSystem", "SourceMotor"}


def test_parameters_come_from_the_dump_and_set_wins(lime_odb: dict, simulated: dict,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    odb = copy.deepcopy(lime_odb)
    odb["Analyzer"]["Parameters"] = {"Reco": {"nsigma": "0.8", "directional": "n"},
                                     "Output": {"reco_file_format": "root"}}
    path = lime_file(tmp_path / "run42901.mid", odb, simulated["physics"])
    out = tmp_path / "out"
    base = ["replay", "-q", "-o", str(out), "--pedestal", str(simulated["pedestal"])]
    assert main([*base, str(path)]) == 0
    assert (out / "reco" / "run42901_reco_replay.root").is_file()
    assert not (out / "reco" / "run42901_reco_replay.parquet").exists()

    assert main([*base, "--set", "output.reco_file_format=parquet", str(path)]) == 0
    assert (out / "reco" / "run42901_reco_replay.parquet").is_file()

    odb["Analyzer"]["Parameters"]["Reco"]["eps"] = 500
    (tmp_path / "bad").mkdir()
    bad = lime_file(tmp_path / "bad" / "run42901.mid", odb, simulated["physics"])
    assert main([*base, str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: begin-of-run ODB /Analyzer/Parameters/Reco: reco parameter 'eps'" in err
