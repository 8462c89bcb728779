"""`cygno-mw demo`: simulate, replay, report — the README's first command."""

from __future__ import annotations

from pathlib import Path

import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main


def test_demo_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo-out"
    assert main(["demo", "-q", "-o", str(out), "--events", "2", "--pedestal-events", "3"]) == 0
    report = capsys.readouterr().out
    assert "pedestal run 1:" in report and "run 2:" in report
    assert "clusters vs truth (run 2):" in report and "matched (" in report
    assert f"cygno-mw sql runs --db sqlite:///{out}/cygno.sqlite" in report
    assert "demo done in" in report
    assert "pictures:" in report and f"cygno-mw plot spectrum 2 --db sqlite:///{out}" in report
    for name in ("run00002_spectrum.png", "run00002_trend.png", "run00001_pedestal.png"):
        assert (out / "plots" / name).read_bytes()[:4] == b"\x89PNG", name
    assert len(list((out / "plots").glob("run00002_event*.png"))) == 1
    for name in ("runs/run00001.mid.lz4", "runs/run00002.truth.parquet",
                 "reco/run00002_reco_replay.parquet", "pedestals/run00001_cam0.npz",
                 "cygno.sqlite"):
        assert (out / name).is_file(), name
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        assert list(db.runs()["reco_status"]) == ["done", "done"]
        assert len(db.reco(2)) > 0

    # a second demo starts over: same rows, no duplicates
    assert main(["demo", "-q", "--no-plots", "-o", str(out), "--events", "2",
                 "--pedestal-events", "3"]) == 0
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        assert len(db.runs()) == 2 and len(db.macro(2)) == 2


def test_demo_refuses_too_few_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-o", str(tmp_path), "--pedestal-events", "1"]) == 2
    assert "needs >= 1 physics event and >= 2 pedestal events" in capsys.readouterr().err
