"""A replay survives a database outage and never loses a run's earlier rows; its Run row
says 'running' from the start (issue 12, defects 4 and 6)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_midas import wait_for

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.replay import session as replay_session
from cygno_mw.analyzers.replay.file_source import FileSource
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    pedestal = simulate_run(folder / "run00060.mid.lz4", 60, 2, pedestal=True, with_pmt=False)
    physics = simulate_run(folder / "run00061.mid.lz4", 61, 3, with_pmt=False,
                           mix=SignalMix(fe55=3, muon=0, nr=0, er=0))
    return {"pedestal": pedestal.path, "physics": physics.path}


def after_first_event(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    """Call `hook` once the replay has taken the first event of the file it reads."""

    class HookedSource(FileSource):
        def __iter__(self) -> Iterator:
            for number, event in enumerate(super().__iter__()):
                yield event
                if number == 0:
                    hook()

    monkeypatch.setattr(replay_session, "FileSource", HookedSource)


def rows(url: str, run: int = 61) -> tuple[int, int, str]:
    with Database(url) as db:
        return len(db.reco(run)), len(db.macro(run)), str(db.runs(run).loc[0, "reco_status"])


def replay(url: str, out: Path, *args: str) -> int:
    return main(["replay", "-q", "-o", str(out), "--set", f"output.database_url={url}", *args])


def test_run_row_says_running_while_the_run_is_processed(
        runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cygno.sqlite'}"
    seen: list[str] = []

    def run_row_status() -> str | None:
        # the Run row is the writer thread's first write; wait for it, not for a race
        with Database(url) as db:
            found = db.runs(60)
        return None if found.empty else str(found.loc[0, "reco_status"])

    after_first_event(monkeypatch, lambda: seen.append(wait_for(run_row_status,
                                                                what="run 60's row")))
    assert replay(url, tmp_path, str(runs["pedestal"])) == 0
    assert seen == ["running"]
    assert rows(url, 60)[2] == "done"


@pytest.mark.mariadb
def test_a_database_outage_is_waited_out(runs: dict[str, Path], tmp_path: Path,
                                         mariadb_server, mariadb_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert replay(mariadb_url, tmp_path, str(runs["pedestal"]), str(runs["physics"])) == 0
    before = rows(mariadb_url)
    assert before[1] == 3 and before[2] == "done"
    restarted: list[threading.Thread] = []

    def outage() -> None:  # down now, back in 3 s, while the replay goes on
        mariadb_server.stop()
        thread = threading.Thread(target=lambda: (threading.Event().wait(3.0),
                                                  mariadb_server.start()))
        thread.start()
        restarted.append(thread)

    after_first_event(monkeypatch, outage)
    try:
        assert replay(mariadb_url, tmp_path, "--db-wait", "60", str(runs["physics"])) == 0
    finally:
        for thread in restarted:
            thread.join()
        mariadb_server.start()
    assert rows(mariadb_url) == before


@pytest.mark.mariadb
def test_a_longer_outage_names_its_cause_and_keeps_the_old_rows(
        runs: dict[str, Path], tmp_path: Path, mariadb_server, mariadb_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(mariadb_url, tmp_path, str(runs["pedestal"]), str(runs["physics"])) == 0
    before = rows(mariadb_url)
    capsys.readouterr()
    after_first_event(monkeypatch, mariadb_server.stop)
    try:
        status = replay(mariadb_url, tmp_path, "--db-wait", "1", str(runs["physics"]))
    finally:
        mariadb_server.start()
    err = capsys.readouterr().err
    assert status == 1
    assert "unreachable" in err or "unavailable" in err
    assert "no pedestal map" not in err and "Traceback" not in err
    assert rows(mariadb_url)[:2] == before[:2]  # the earlier pass's rows are all there
