"""`simulate_run` and `cygno-mw simulate`: a MIDAS file the reader reads, with its truth."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.banks.pmt import decode_pmt_banks
from cygno_mw.banks.slow_control import layout_for_event, layouts_from_odb, readings_from_banks
from cygno_mw.errors import UsageError
from cygno_mw.simulation.sensor import DEFAULT_CAMERA_SEED, SensorModel
from cygno_mw.simulation.signals import SignalMix
from cygno_mw.simulation.truth import load_truth, truth_metadata

pytest.importorskip("cygno_mw.midasfile.writer", reason="the MIDAS writer is not there yet")

SHAPE = (256, 256)


def _simulate(path, **kwargs):
    from cygno_mw.simulation.run import simulate_run

    options = {"shape": SHAPE, "mix": SignalMix(fe55=2, muon=1, nr=1, er=1, close_pairs=1)}
    options.update(kwargs)
    return simulate_run(path, 42, 3, **options)


def _events(path):
    from cygno_mw.midasfile.reader import open_midas

    with open_midas(path) as midas:
        events = [(ev.event_id, ev.serial_number, {n: np.array(b.data) for n, b in
                                                    ev.banks.items()}) for ev in midas]
        return midas.bor_odb, midas.eor_odb, events


def test_simulated_run_is_a_readable_midas_file(tmp_path):
    result = _simulate(tmp_path / "run00042.mid.lz4", seed=7)
    assert result.path.exists() and result.truth_path == tmp_path / "run00042.truth.parquet"
    bor, eor, events = _events(result.path)
    assert bor["Runinfo"]["Run number"] == 42 and bor["Configurations"]["Pedestal"] is False
    assert eor["Runinfo"]["State"] == 1
    assert eor["Equipment"]["Trigger"]["Statistics"]["Events sent"] == 3

    triggers = [e for e in events if e[0] == 1]
    assert [serial for _, serial, _ in triggers] == [0, 1, 2]
    truth = load_truth(result.truth_path)
    sensor = SensorModel.generate(DEFAULT_CAMERA_SEED, SHAPE)
    assert sorted(truth) == [0, 1, 2] and truth_metadata(result.truth_path)["seed"] == 7
    assert sum(len(t) for t in truth.values()) == result.n_signals == 3 * 7
    for _, serial, banks in triggers:
        assert set(banks) == {"CAM0", "DGH0", "DIG0"}
        assert banks["CAM0"].dtype == np.uint16 and banks["CAM0"].size == SHAPE[0] * SHAPE[1]
        fast, slow = decode_pmt_banks(banks["DGH0"], banks["DIG0"])
        assert fast.n_events == slow.n_events == len(truth[serial])
        excess = banks["CAM0"].astype(np.float64) - sensor.pedestal.reshape(-1)
        for signal in truth[serial]:  # the light is where the truth says
            assert excess[signal.footprint].sum() > 0.5 * signal.light_sensor

    layouts = layouts_from_odb(bor)
    slow_control = [e for e in events if e[0] in (3, 4, 5, 6)]
    assert len(slow_control) == result.slow_control_events == 8  # at start and end
    for event_id, _, banks in slow_control:
        readings = readings_from_banks(layout_for_event(event_id, layouts), banks)
        assert all(np.isfinite(list(readings.values())))
    first_hv = next(banks for event_id, _, banks in slow_control if event_id == 3)
    assert np.allclose(first_hv["MSRD"], bor["Equipment"]["HV"]["Variables"]["Measured"])


def test_simulated_run_with_measured_inputs(tmp_path, shared_data):
    from test_simulation_pmt import correct_fast_board

    from cygno_mw.banks.pmt import load_drs4_tables
    from cygno_mw.simulation.run import simulate_run

    result = simulate_run(tmp_path / "run00043.mid", 43, 1, shape=SHAPE,
                          mix=SignalMix(fe55=2, muon=0, nr=0, er=0), with_slow_control=False,
                          vignette_path=shared_data / "vignette_lime_runs03930to03932.root",
                          drs4_tables_dir=shared_data / "pmt")
    (_, _, banks), = _events(result.path)[2]
    fast, _ = decode_pmt_banks(banks["DGH0"], banks["DIG0"])
    corrected = correct_fast_board(fast.waveforms, fast.start_cells,
                                   load_drs4_tables(shared_data / "pmt"))
    assert fast.n_events == 2
    assert corrected[:, 6].std(axis=1).max() < 4.0 < fast.waveforms[:, 6].std(axis=1).min()


def test_same_seed_same_file_content(tmp_path):
    first = _events(_simulate(tmp_path / "a.mid", seed=3, with_slow_control=False).path)[2]
    again = _events(_simulate(tmp_path / "b.mid", seed=3, with_slow_control=False).path)[2]
    assert len(first) == len(again) == 3
    for (_, _, a), (_, _, b) in zip(first, again, strict=True):
        assert all(np.array_equal(a[name], b[name]) for name in a)


def test_pedestal_run_shares_the_camera(tmp_path):
    result = _simulate(tmp_path / "run00041.mid.gz", pedestal=True, mix=None)
    bor, _, events = _events(result.path)
    assert bor["Configurations"]["Pedestal"] is True
    assert all(len(t) == 0 for t in load_truth(result.truth_path).values())
    sensor = SensorModel.generate(DEFAULT_CAMERA_SEED, SHAPE)
    images = [b["CAM0"].reshape(SHAPE).astype(np.float32) for i, _, b in events if i == 1]
    residual = np.mean(images, axis=0) - sensor.pedestal
    assert abs(residual.mean()) < 0.05 and np.abs(residual).max() < 6 * sensor.noise.max()
    for _, _, banks in (e for e in events if e[0] == 1):
        assert all(board.n_events == 0 for board in decode_pmt_banks(banks["DGH0"],
                                                                     banks["DIG0"]))


def test_bad_arguments(tmp_path):
    from cygno_mw.simulation.run import simulate_run

    with pytest.raises(UsageError, match="MIDAS file name"):
        simulate_run(tmp_path / "run.txt", 1, 1, shape=SHAPE)
    with pytest.raises(UsageError, match="events"):
        simulate_run(tmp_path / "run.mid", 1, -1, shape=SHAPE)
    with pytest.raises(UsageError, match="noise"):
        simulate_run(tmp_path / "run.mid", 1, 1, shape=SHAPE, noise_level=-1)


def test_cli_simulate(tmp_path, capsys):
    from cygno_mw.cli import main

    out = tmp_path / "run00005.mid.lz4"
    assert main(["simulate", "--run", "5", "--events", "2", "--mix", "fe55=2,muon=1",
                 "--seed", "1", "--no-slow-control", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "run00005.truth.parquet" in printed.out and out.exists()
    assert "2/2" in printed.err  # brief progress
    truth = load_truth(tmp_path / "run00005.truth.parquet")
    assert [len(t) for t in truth.values()] == [3, 3]


@pytest.mark.parametrize("argv, code", [
    (["--run", "1", "--events", "1", "--mix", "gamma=3"], 2),
    (["--run", "1", "--events", "-1"], 2),
    (["--run", "1", "--events", "1", "--pedestal", "--mix", "fe55=1"], 2),
    (["--run", "1", "--events", "1", "--noise", "-2"], 2),
])
def test_cli_bad_options(tmp_path, capsys, argv, code):
    from cygno_mw.cli import main

    assert main(["simulate", *argv, "-o", str(tmp_path / "r.mid")]) == code
    assert "error" in capsys.readouterr().err


def test_cli_bad_output(tmp_path, capsys):
    from cygno_mw.cli import main

    assert main(["simulate", "--run", "1", "--events", "1", "-o", str(tmp_path / "r.root")]) == 2
    assert main(["simulate", "--run", "1", "--events", "1", "-q",
                 "-o", str(tmp_path / "missing" / "r.mid")]) == 1
    assert "cannot write" in capsys.readouterr().err
