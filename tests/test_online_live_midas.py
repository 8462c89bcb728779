"""The online analyzer against a live MIDAS experiment (marked `midas`; run when MIDASSYS is
set and the real `midas` package is importable).

The analyzer is started as MIDAS would start it (`cygno-mw analyzer online
--name ...`), under a client name of its own so that it reads `/Analyzer/Online/<name>` and
leaves a production analyzer's settings alone; it takes only the events of the camera
frontend started here with index 9 (event id 19).  The test takes a pedestal run and a physics
run, then checks the SQL rows (an SQLite file under tmp_path), the statistics in the ODB and a
live settings change.  It starts and stops runs and changes `/Analyzer/Parameters` (put back
afterwards): use a test experiment.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_midas import LIVE_MIDAS, idle_client, start_program, stop_program, wait_for

pytestmark = LIVE_MIDAS

INDEX = 9
EVENT_ID = 10 + INDEX  # frontend_names.camera_event_id
NAME = "Online Analyzer Live Test"
SETTINGS = f"/Analyzer/Online/{NAME}"
HOME = f"/Analyzer/Reco/{NAME}"
CAMERA = f"/Equipment/Camera{INDEX}"
PARAMETERS = "/Analyzer/Parameters"


def analyzer_parameters(tmp_path: Path) -> dict:
    """Reco window fitted to the 512x256 frames below; outputs under tmp_path."""
    from cygno_mw.analyzers.parameters import AnalyzerParameters

    params = AnalyzerParameters.defaults().updated(
        "Reco", {"xmax": 512, "ymin": 0, "ymax": 256, "backend": "numpy", "batch_size": 1,
                 "vignette_map": "none"})
    params = params.updated("Output", {
        "database_url": f"sqlite:///{tmp_path / 'cygno.sqlite'}",
        "output_dir": str(tmp_path / "out"), "reco_file_format": "none"})
    return params.to_odb()


@pytest.fixture()
def client(tmp_path) -> Iterator[Any]:
    """A client of our own; the ODB keys the test changes are put back afterwards."""
    crew = idle_client("cygno-mw-live-test")
    saved = {path: crew.odb_get(path) for path in (PARAMETERS, "/Configurations/Pedestal")
             if crew.odb_exists(path)}
    crew.odb_set(PARAMETERS, analyzer_parameters(tmp_path))
    crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 3.0, "Sim pool": 2, "ROI width": 512,
                                        "ROI height": 256, "ROI x0": 64, "ROI y0": 128},
                 remove_unspecified_keys=False)
    crew.odb_set(SETTINGS, {"Event IDs": str(EVENT_ID), "Writes run row": True},
                 remove_unspecified_keys=False)
    try:
        yield crew
    finally:
        for path, value in saved.items():
            crew.odb_set(path, value)
        crew.disconnect()


def take_run(client: Any, seconds: float, pedestal: bool) -> tuple[int, int]:
    """One run of `seconds`; returns its number and the frames the camera sent."""
    client.odb_set("/Configurations/Pedestal", pedestal)
    client.start_run()
    run = int(client.odb_get("/Runinfo/Run number"))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.communicate(100)
    client.stop_run()
    frames = int(client.odb_get(f"{CAMERA}/Variables/Frames"))
    wait_for(lambda: (client.odb_get(f"{HOME}/Last run") or {}).get("Run") == run,
             timeout=120, what=f"the analyzer to finish run {run}")
    return run, frames


def test_online_analyzer_on_a_live_experiment(client, tmp_path):
    from cygno_mw.analyzers.outputs.query import Database

    camera = start_program(client, ["frontend", "camera", "-i", str(INDEX)],
                           f"Camera Frontend {INDEX}", timeout=60)
    analyzer = start_program(client, ["analyzer", "online", "--name", NAME],
                             NAME, timeout=60)
    try:
        pedestal_run, pedestal_frames = take_run(client, 5.0, pedestal=True)
        run, frames = take_run(client, 5.0, pedestal=False)

        # a live settings change: a bad value is refused and the one in use put back
        in_use = int(client.odb_get("/Analyzer/Online/Max backlog"))
        client.odb_set(f"{SETTINGS}/Max backlog", -1)
        wait_for(lambda: client.odb_get(f"{SETTINGS}/Max backlog") == in_use,
                 timeout=60, what="Max backlog put back")
        assert any("Max backlog" in m for m in client.get_recent_messages(20))
    finally:
        stop_program(analyzer, signal.SIGINT)  # as from the status page: flush, then exit
        stop_program(camera)

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
    assert stats["Events received"] >= pedestal_frames + frames
    assert stats["Events analyzed"] >= pedestal_frames + frames
    assert stats["Backend"] == "numpy"
