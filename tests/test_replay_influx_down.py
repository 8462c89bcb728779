"""InfluxDB down is not silent: the summary counts the points, and the run is not 'done'
(issue 12, defect 5)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cygno_mw.analyzers import sinks
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_points_lost_to_a_dead_server_make_the_run_partial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sinks, "INFLUX_RUN_FLUSH_S", 1.0)
    run = simulate_run(tmp_path / "run00070.mid.lz4", 70, 2, pedestal=True, with_pmt=False)
    url = f"http://127.0.0.1:{closed_port()}"
    status = main(["replay", "-o", str(tmp_path / "out"), "--set", f"output.influx_url={url}",
                   str(run.path)])
    captured = capsys.readouterr()
    assert status == 3
    assert "points written" in captured.out and "not sent" in captured.out
    assert f"InfluxDB {url}:" in captured.err and "points not written" in captured.err
    with Database(f"sqlite:///{tmp_path / 'out' / 'cygno.sqlite'}") as db:
        assert db.runs(70).loc[0, "reco_status"] == "partial"
