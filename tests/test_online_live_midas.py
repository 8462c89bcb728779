"""The online analyzer against the session's live MIDAS experiment (marked `midas`).

The analyzer is started as MIDAS would start it (`cygno-mw analyzer online --name ...`), under
a client name of its own so that it reads `/Analyzer/Online/<name>`; it takes only the events
of the camera frontend started here with index 9 (event id 19) and small frames.  Each test
checks one thing a shift crew relies on: runs analyzed and written (SQL rows in an SQLite
file, statistics in the ODB), a clean stop from the status page (`cm_shutdown`), a run
started at once after the analyzer connects, a run already going when it starts, and a run
that cannot be analyzed (no pedestal yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_midas import (
    LIVE_MIDAS,
    connected,
    exit_status,
    idle_client,
    start_program,
    stop_program,
    wait_for,
)

pytestmark = LIVE_MIDAS

INDEX = 9
EVENT_ID = 10 + INDEX  # frontend_names.camera_event_id
NAME = "Online Analyzer Live Test"
SETTINGS = f"/Analyzer/Online/{NAME}"
HOME = f"/Analyzer/Reco/{NAME}"
CAMERA = f"/Equipment/Camera{INDEX}"
PARAMETERS = "/Analyzer/Parameters"


def analyzer_parameters(database: Path, output_dir: Path) -> dict:
    """Reco window fitted to the 512x256 frames below; outputs in `database`/`output_dir`."""
    from cygno_mw.analyzers.parameters import AnalyzerParameters

    params = AnalyzerParameters.defaults().updated(
        "Reco", {"xmax": 512, "ymin": 0, "ymax": 256, "backend": "numpy", "batch_size": 1,
                 "vignette_map": "none"})
    params = params.updated("Output", {
        "database_url": f"sqlite:///{database}",
        "output_dir": str(output_dir), "reco_file_format": "none"})
    return params.to_odb()


@pytest.fixture(scope="module")
def camera(midas_experiment) -> Iterator[Any]:
    """The camera frontend (index 9, small frames) for the module's tests."""
    crew = idle_client(midas_experiment)
    crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 3.0, "Sim pool": 2, "ROI width": 512,
                                        "ROI height": 256, "ROI x0": 64, "ROI y0": 128},
                 remove_unspecified_keys=False)
    crew.odb_set(SETTINGS, {"Event IDs": str(EVENT_ID), "Writes run row": True},
                 remove_unspecified_keys=False)
    process = start_program(midas_experiment, ["frontend", "camera", "-i", str(INDEX)],
                            f"Camera Frontend {INDEX}", timeout=60)
    yield process
    stop_program(process)


@pytest.fixture()
def client(tmp_path, midas_experiment, camera) -> Iterator[Any]:
    """The crew's client, the analyzer's outputs in tmp_path (a fresh database each test)."""
    crew = idle_client(midas_experiment)
    saved = {path: crew.odb_get(path) for path in (PARAMETERS, "/Configurations/Pedestal")
             if crew.odb_exists(path)}
    crew.odb_set(PARAMETERS, analyzer_parameters(tmp_path / "cygno.sqlite", tmp_path / "out"))
    try:
        yield crew
    finally:
        for path, value in saved.items():
            crew.odb_set(path, value)


def start_analyzer(experiment: Any) -> Any:
    return start_program(experiment, ["analyzer", "online", "--name", NAME], NAME, timeout=60)


def shutdown(experiment: Any, process: Any, name: str = NAME) -> int:
    """Stop the program as the status page does (cm_shutdown); its exit status."""
    experiment.jsonrpc("cm_shutdown", {"name": name, "unique": True})
    return exit_status(process)


def last_run_is(client: Any, run: int) -> bool:
    return (client.odb_get_or(f"{HOME}/Last run") or {}).get("Run") == run


def take_run(client: Any, seconds: float, pedestal: bool) -> tuple[int, int]:
    """One run of `seconds`; returns its number and the frames the camera sent."""
    client.odb_set("/Configurations/Pedestal", pedestal)
    client.start_run()
    run = int(client.odb_get("/Runinfo/Run number"))
    client.wait(seconds)
    client.stop_run()
    frames = int(client.odb_get(f"{CAMERA}/Variables/Frames"))
    wait_for(lambda: last_run_is(client, run), timeout=120,
             what=f"the analyzer to finish run {run}")
    return run, frames


def test_online_analyzer_on_a_live_experiment(client, tmp_path, midas_experiment):
    from cygno_mw.analyzers.outputs.query import Database

    analyzer = start_analyzer(midas_experiment)
    try:
        pedestal_run, pedestal_frames = take_run(client, 4.0, pedestal=True)
        run, frames = take_run(client, 4.0, pedestal=False)

        # a live settings change: a bad value is refused and the one in use put back
        in_use = int(client.odb_get("/Analyzer/Online/Max backlog"))
        client.odb_set(f"{SETTINGS}/Max backlog", -1)
        wait_for(lambda: client.odb_get(f"{SETTINGS}/Max backlog") == in_use,
                 timeout=60, what="Max backlog put back")
        assert any("Max backlog" in m for m in client.get_recent_messages(20))
    finally:
        status = shutdown(midas_experiment, analyzer)

    # stopped from the status page: exit status 0, final statistics written before it left
    assert status == 0
    assert pedestal_frames > 0 and frames > 0
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    pedestals = db.pedestals(pedestal_run)
    assert list(pedestals["camera"]) == [INDEX]
    row = db.runs(run).iloc[0]
    assert row["reco_status"] == "done"
    assert int(row["reco_events"]) == frames == int(row["number_of_events"])
    macro = db.macro(run)
    assert sorted(int(e) for e in macro["event"]) == list(range(frames))
    assert set(int(c) for c in macro["camera"]) == {INDEX}

    last = client.odb_get(f"{HOME}/Last run")
    assert last["Status"] == "done" and last["Events analyzed"] == frames
    stats = client.odb_get(f"{HOME}/Statistics")
    assert stats["Events received"] == pedestal_frames + frames
    assert stats["Events analyzed"] == pedestal_frames + frames
    assert stats["Events outside runs"] == 0
    assert stats["Backend"] == "numpy"


def test_a_run_started_as_the_analyzer_connects_and_one_in_progress_are_analyzed(
        client, tmp_path, midas_experiment):
    """The crew starts a run the moment the analyzer shows in /System/Clients; then the
    analyzer is restarted in the middle of a run and joins it."""
    from cygno_mw.analyzers.outputs.query import Database

    client.odb_set("/Configurations/Pedestal", True)
    analyzer = midas_experiment.spawn(
        [*_command(), "analyzer", "online", "--name", NAME], "analyzer_race")
    try:
        first = client.start_run_when_connected(NAME)
        client.wait(3.0)
        client.stop_run()
        first_frames = int(client.odb_get(f"{CAMERA}/Variables/Frames"))
        wait_for(lambda: last_run_is(client, first), 60, what=f"run {first} analyzed")
        assert shutdown(midas_experiment, analyzer) == 0

        client.start_run()
        second = int(client.odb_get("/Runinfo/Run number"))
        client.wait(1.0)
        analyzer = start_analyzer(midas_experiment)
        client.wait(3.0)
        client.stop_run()
        second_frames = int(client.odb_get(f"{CAMERA}/Variables/Frames"))
        wait_for(lambda: last_run_is(client, second), 60, what=f"run {second} joined")
    finally:
        status = shutdown(midas_experiment, analyzer)
    assert status == 0
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    assert int(db.runs(first).iloc[0]["reco_events"]) == first_frames
    joined = client.odb_get(f"{HOME}/Last run")
    assert joined["Events analyzed"] > 0
    # the analyzer missed the run's first second: the Run row counts the events the camera
    # frontend sent (its Statistics in the end-of-run ODB), says the run was sampled and
    # how many events the analysis did not see (issue 24)
    row = db.runs(second).iloc[0]
    analyzed = int(row["reco_events"])
    assert 0 < analyzed < second_frames
    assert int(row["number_of_events"]) == second_frames
    assert bool(row["sampled"]) and int(row["skipped_events"]) == second_frames - analyzed


def test_a_run_starting_while_the_analyzer_connects_is_joined(client, midas_experiment):
    """The run's start transition is under way (held by a slow client) while the analyzer
    connects and registers: it is not called for that transition, so it must join the run
    once the transition is over."""
    client.odb_set("/Configurations/Pedestal", True)
    analyzer = midas_experiment.spawn(
        [*_command(), "analyzer", "online", "--name", NAME], "analyzer_during_transition")
    try:
        run = client.start_run_as_client_connects(NAME, 2.0)
        client.wait(3.0)
        client.stop_run()
        wait_for(lambda: last_run_is(client, run), 60, what=f"run {run} joined")
    finally:
        status = shutdown(midas_experiment, analyzer)
    assert status == 0
    assert client.odb_get(f"{HOME}/Last run")["Events analyzed"] > 0


def test_a_run_without_pedestal_is_reported_for_the_shift_crew(client, tmp_path,
                                                                 midas_experiment):
    from cygno_mw.analyzers.outputs.query import Database

    analyzer = start_analyzer(midas_experiment)
    try:
        run, frames = take_run(client, 3.0, pedestal=False)
    finally:
        status = shutdown(midas_experiment, analyzer)
    assert status == 0
    row = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}").runs(run).iloc[0]
    assert row["reco_status"] == "failed"
    assert int(row["number_of_events"]) == frames
    assert row["stop_time"] is not None
    stats = client.odb_get(f"{HOME}/Statistics")
    assert stats["Events outside runs"] == 0
    messages = " ".join(client.get_recent_messages(30))
    assert "pedestal" in messages and "--pedestal" not in messages


def _command() -> list[str]:
    import shlex

    from cygno_mw.odb_install import cygno_mw_command

    return shlex.split(cygno_mw_command())


def test_the_analyzer_becomes_a_daemon_with_minus_d(client, midas_experiment):
    """-D as MIDAS frontends do: the started process returns at once, the client lives on
    in a detached process."""
    import os

    launcher = midas_experiment.spawn([*_command(), "analyzer", "online", "--name", NAME, "-D"],
                                      "analyzer_daemon")
    try:
        assert exit_status(launcher, timeout=30) == 0
        wait_for(lambda: connected(client, NAME), 60, what="the daemon to connect")
        pid = midas_experiment.client_pids()[NAME]
        assert pid != launcher.pid
        assert os.getsid(pid) == pid  # a session of its own: no longer mhttpd's shell's child
    finally:
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        wait_for(lambda: not connected(client, NAME), 60, what="the daemon to stop")


def test_no_events_during_a_run_raises_a_midas_alarm_and_the_stop_resets_it(
        client, midas_experiment):
    client.odb_set(SETTINGS, {"Event IDs": "18", "No events alarm s": 1.0,
                              "Statistics interval s": 0.5}, remove_unspecified_keys=False)
    analyzer = start_analyzer(midas_experiment)
    try:
        client.odb_set("/Configurations/Pedestal", True)
        client.start_run()
        wait_for(lambda: "Analyzer no events" in client.get_triggered_alarms(), 30,
                 what="the no-events alarm")
        assert client.odb_get("/Alarms/Alarms/Analyzer no events/Triggered") > 0
        client.stop_run()
        wait_for(lambda: "Analyzer no events" not in client.get_triggered_alarms(), 30,
                 what="the alarm reset at the end of the run")
    finally:
        status = shutdown(midas_experiment, analyzer)
        client.odb_set(SETTINGS, {"Event IDs": str(EVENT_ID), "No events alarm s": 60.0,
                                  "Statistics interval s": 2.0},
                       remove_unspecified_keys=False)
    assert status == 0
    assert any("no events for" in m for m in client.get_recent_messages(30))
