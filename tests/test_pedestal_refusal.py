"""`--pedestal` refuses a run that is not a pedestal run and never stores one as such
(issue 12, defect 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.midasfile import MidasWriter, open_midas
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix


@pytest.fixture(scope="module")
def physics(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("runs")
    mix = SignalMix(fe55=2, muon=0, nr=0, er=0)
    first = simulate_run(folder / "run00050.mid.lz4", 50, 2, mix=mix, with_pmt=False)
    second = simulate_run(folder / "run00051.mid.lz4", 51, 2, mix=mix, with_pmt=False)
    return first.path, second.path


def pedestal_rows(out: Path) -> int:
    database = out / "cygno.sqlite"
    if not database.exists():
        return 0
    with Database(f"sqlite:///{database}") as db:
        return len(db.pedestals())


def test_a_physics_run_is_refused_as_pedestal(physics: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    first, second = physics
    out = tmp_path / "out"
    assert main(["replay", "-q", "-o", str(out), "--pedestal", str(first), str(second)]) == 2
    err = capsys.readouterr().err
    assert "run 50 is not a pedestal run" in err and "--force-pedestal" in err
    assert pedestal_rows(out) == 0


def test_forced_maps_serve_one_replay_and_are_never_stored(
        physics: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = physics
    out = tmp_path / "out"
    assert main(["replay", "-q", "-o", str(out), "--pedestal", str(first), "--force-pedestal",
                 str(second)]) == 0
    assert pedestal_rows(out) == 0
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        assert db.runs(51).loc[0, "reco_status"] == "done"
    capsys.readouterr()
    # a later replay does not silently take run 50 as its pedestal
    assert main(["replay", "-q", "-o", str(out), str(second)]) == 1
    assert "pedestal" in capsys.readouterr().err


def test_a_run_marked_pedestal_whose_images_hold_clusters_is_refused(
        physics: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = physics
    mislabeled = tmp_path / "run00050.mid"
    with open_midas(first) as midas:
        odb = midas.bor_odb
        odb["Configurations"]["Pedestal"] = True
        with MidasWriter(mislabeled, 50, odb) as writer:
            for event in midas:
                writer.write(event.event_id, event.banks.values(),
                             serial_number=event.serial_number, timestamp=event.timestamp)
    out = tmp_path / "out"
    assert main(["replay", "-q", "-o", str(out), "--pedestal", str(mislabeled),
                 str(second)]) == 2
    err = capsys.readouterr().err
    assert "run 50 is marked a pedestal run, but its images hold clusters" in err
    assert pedestal_rows(out) == 0
