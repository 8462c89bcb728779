"""`cygno-mw replay` on simulated runs: every table filled, clusters where the truth is.

Full 2304x2304 frames, few events: one pedestal run (3 images) and one physics run
(3 images) simulated once for the module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.gpu.params import RecoParams
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix
from cygno_mw.simulation.truth import load_truth
from cygno_mw.simulation.truth_match import match_clusters

PHYSICS_EVENTS = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    pedestal = simulate_run(folder / "run00010.mid.lz4", 10, 3, pedestal=True)
    physics = simulate_run(folder / "run00011.mid.lz4", 11, PHYSICS_EVENTS,
                           mix=SignalMix(fe55=4, muon=1, nr=1, er=1))
    return {"pedestal": pedestal.path, "physics": physics.path, "truth": physics.truth_path}


@pytest.fixture(scope="module")
def replayed(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both runs replayed into one output folder (pedestal run first)."""
    out = tmp_path_factory.mktemp("out")
    assert main(["replay", "-q", "-o", str(out), str(runs["pedestal"]),
                 str(runs["physics"])]) == 0
    return out


def database(out: Path) -> Database:
    return Database(f"sqlite:///{out / 'cygno.sqlite'}")


def table_sizes(out: Path) -> dict[str, int]:
    with database(out) as db:
        return {"runs": len(db.runs()), "reco": len(db.reco(11)), "macro": len(db.macro()),
                "slow_control": len(db.slow_control()), "pedestals": len(db.pedestals())}


def test_every_table_is_filled(replayed: Path, runs: dict[str, Path]) -> None:
    with database(replayed) as db:
        run_rows = db.runs().set_index("run")
        macro = db.macro(11)
        reco = db.reco(11)
        sc = db.slow_control(runs=11)
        pedestals = db.pedestals()
    assert list(run_rows.index) == [10, 11]
    physics = run_rows.loc[11]
    assert physics["reco_status"] == "done" and not physics["partial"]
    assert physics["number_of_events"] == PHYSICS_EVENTS
    assert physics["reco_events"] == PHYSICS_EVENTS
    assert physics["file_name"] == runs["physics"].name
    assert physics["file_size"] == runs["physics"].stat().st_size
    assert physics["file_checksum"] == hashlib.md5(runs["physics"].read_bytes()).hexdigest()
    assert physics["exposure_s"] == pytest.approx(0.3)
    assert physics["gem1_v"] == pytest.approx(400.0) and physics["drift_v"] == 960.0
    assert physics["description"].startswith("Simulated physics run")
    assert physics["stop_time"] > physics["start_time"]
    assert run_rows.loc[10, "reco_status"] == "done"

    assert list(macro["event"]) == list(range(PHYSICS_EVENTS))
    assert macro["nclusters"].sum() == len(reco) > 0
    assert (macro["pedestal_mean"] > 90).all()
    assert set(sc["equipment"]) == {"HV", "CATHODE", "Environment", "GasSystem"}
    assert "VGEM1" in set(sc["variable"]) and "VGEM1_demand" in set(sc["variable"])
    assert list(pedestals["run"]) == [10]
    assert pedestals.loc[0, "n_images"] == 3
    assert Path(pedestals.loc[0, "map_location"]).is_file()


def test_clusters_match_the_truth(replayed: Path, runs: dict[str, Path]) -> None:
    with database(replayed) as db:
        clusters = db.reco(11)
    reco = RecoParams()
    report = match_clusters(load_truth(runs["truth"]), clusters,
                            (reco.xmin, reco.xmax, reco.ymin, reco.ymax))
    assert report.in_window >= 10
    assert report.efficiency >= 0.7, report.lines()
    assert report.by_kind["fe55"].found >= 0.7 * report.by_kind["fe55"].injected
    assert np.median(report.position_errors) < 5.0


def test_reco_file_holds_every_image(replayed: Path) -> None:
    frame = pd.read_parquet(replayed / "reco" / "run00011_reco_replay.parquet")
    with database(replayed) as db:
        macro = db.macro(11)
    assert list(frame["event"]) == list(macro["event"])
    assert list(frame["nSc"]) == list(macro["nclusters"])
    assert [len(v) for v in frame["sc_integral"]] == list(frame["nSc"])


def test_replaying_again_replaces_rows(replayed: Path, runs: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = table_sizes(replayed)
    assert main(["replay", "-o", str(replayed), str(runs["physics"])]) == 0
    assert table_sizes(replayed) == before
    out = capsys.readouterr().out
    assert "run 11:" in out and "pedestal run 10 (pedestals table)" in out
    assert str(replayed / "cygno.sqlite") in out


def test_worker_processes_give_the_same_clusters(replayed: Path, runs: dict[str, Path],
                                                 tmp_path: Path) -> None:
    assert main(["replay", "-q", "-j", "2", "-o", str(tmp_path), "--pedestal",
                 str(runs["pedestal"]), str(runs["physics"])]) == 0
    columns = ["event", "sc_integral", "sc_xmean", "sc_ymean"]
    with database(tmp_path) as parallel, database(replayed) as inline:
        got = parallel.reco(11, columns=columns)
        expected = inline.reco(11, columns=columns)
    pd.testing.assert_frame_equal(got, expected)


def test_pedestal_file_is_computed_once(runs: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["replay", "-o", str(tmp_path), "--pedestal", str(runs["pedestal"]),
            "--set", "output.reco_file_format=root", str(runs["physics"])]
    assert main(args) == 0
    assert "computing pedestal maps" in capsys.readouterr().err
    assert main(args) == 0
    assert "computing pedestal maps" not in capsys.readouterr().err
    assert (tmp_path / "pedestals" / "file-cache.json").is_file()
    with database(tmp_path) as db:
        assert list(db.pedestals()["run"]) == [10]
        nclusters = list(db.macro(11)["nclusters"])

    import uproot

    with uproot.open(tmp_path / "reco" / "run00011_reco_replay.root") as root_file:
        tree = root_file["Events"]
        assert list(tree["nSc"].array(library="np")) == nclusters
        assert "sc_integral" in tree.keys()  # noqa: SIM118 - a TTree, not a dict


def test_pmt_waveforms_are_analysed_into_the_pmt_table(replayed: Path) -> None:
    """Every physics event's DGH0/DIG0: per board, trigger and PMT channel a waveform row,
    and peaks where the simulated pulses are (40% into each board's window)."""
    import sqlalchemy as sa

    with database(replayed) as db, db.engine.connect() as conn:
        pmt = pd.read_sql(sa.text("SELECT * FROM pmt WHERE run = 11"), conn)
        assert conn.execute(sa.text("SELECT COUNT(*) FROM pmt WHERE run = 10")).scalar() == 0
        waveforms, peaks = db.pmt(11, peaks=False), db.pmt(11, peaks=True)
    assert len(waveforms) + len(peaks) == len(pmt)
    assert set(waveforms.board) == {0, 1} and set(waveforms.pmt_wf_channel) == {1, 2, 3, 4}
    assert set(waveforms.event) == set(range(PHYSICS_EVENTS))
    assert set(waveforms.model) == {1742, 1720}
    assert set(waveforms[waveforms.model == 1720].pmt_wf_sampling) == {4000}
    # the fast board's PMT channels are DRS4-corrected by us (the simulated run says the
    # digitizer did not), with the baseline noise of the simulation (2.5 ADC before averaging)
    fast = waveforms[waveforms.model == 1742]
    assert fast.drs4_corrected.all() and fast.pmt_wf_RMS.median() < 2.5
    counted = waveforms.set_index(["event", "board", "pmt_wf_trigger", "pmt_wf_channel"])
    per_waveform = peaks.groupby(["event", "board", "pmt_wf_trigger", "pmt_wf_channel"]).size()
    assert (counted.loc[per_waveform.index, "pmt_wf_nPeaks"] == per_waveform).all()
    assert len(peaks) >= len(waveforms) // 4
    for model, n in ((1742, 1024), (1720, 4000)):
        first = peaks[peaks.model == model].groupby(
            ["event", "board", "pmt_wf_trigger", "pmt_wf_channel"]).pmt_peak_Position.min()
        assert (first > 0.38 * n).all()  # no noise peak before the pulses
        assert (first < 0.6 * n).mean() > 0.8  # long (muon) pulses peak later


def test_pmt_peaks_are_at_the_simulated_pulses(replayed: Path, runs: dict[str, Path]) -> None:
    """The pulse truth sidecar: each fast-board pulse's start and duration; our first peak
    on that waveform lies within the pulse (its light box plus the 8 ns decay)."""
    truth = pd.read_parquet(str(runs["truth"]).replace(".truth.", ".pmt.truth."))
    assert {"event", "model", "trigger", "channel", "time_ns", "integral",
            "amplitude"} <= set(truth.columns)
    with database(replayed) as db:
        peaks = db.pmt(11, peaks=True)
    first = peaks[(peaks.model == 1742) & (peaks.pmt_peak_Number == 1)].set_index(
        ["event", "pmt_wf_trigger", "pmt_wf_channel"]).peak_time_ns
    first.index.names = ["event", "trigger", "channel"]
    fast = truth[truth.model == 1742].set_index(["event", "trigger", "channel"])
    both = fast.join(first.rename("reco"), how="inner")
    assert len(both) >= 0.8 * len(fast)
    delay = both.reco - both.time_ns
    inside = (delay > 0) & (delay < both.duration_ns + 20.0)
    assert inside.mean() > 0.9
