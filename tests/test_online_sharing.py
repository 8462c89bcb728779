"""Two online analyzer processes sharing the SYSTEM buffer, partitioned by camera (two clients
in one process, as the stand-in allows): each event is reconstructed once, each process
replaces only its own cameras' rows, only one of them writes the Run row, and its counters are
the totals of both."""

from __future__ import annotations

from pathlib import Path

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas.client  # noqa: E402
from test_online_analyzer import parameters, settle  # noqa: E402

from cygno_mw.analyzers.online.analyzer import OnlineAnalyzer  # noqa: E402
from cygno_mw.analyzers.outputs.query import Database  # noqa: E402
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

SECOND = "Online Analyzer 2"
FRAME = {"Frame rate": 0.0, "Sim pool": 2, "ROI width": 512, "ROI height": 256, "ROI x0": 64,
         "ROI y0": 128}


@pytest.fixture()
def crew(tmp_path):
    standin.reset()
    crew = midas.client.MidasClient("crew")
    crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
    crew.odb_set("/Experiment/Buffer sizes/SYSTEM", 256 * 1024 * 1024)
    for camera in (0, 1):
        crew.odb_set(f"/Equipment/Camera{camera}/Settings", FRAME,
                     remove_unspecified_keys=False)
    crew.odb_set("/Analyzer/Parameters", parameters(tmp_path, reco_file_format="parquet"))
    crew.odb_set("/Configurations/Pedestal", False)
    # the run-row writer takes CAM0 (event id 10) and slow control; the second one CAM1 (11)
    crew.odb_set("/Analyzer/Online", {"Event IDs": "10, 30"}, remove_unspecified_keys=False)
    crew.odb_set(f"/Analyzer/Online/{SECOND}", {"Event IDs": "11", "Writes run row": False})
    yield crew
    crew.disconnect()


def analyzer(name: str) -> OnlineAnalyzer:
    return OnlineAnalyzer(midas.client.MidasClient(name), name=name,
                          clock=standin.experiment().clock.now)


def take_run(crew, frontends, analyzers, passes: int, pedestal: bool = False,
             run: int = 0) -> dict[int, int]:
    """One run; returns the frames each camera sent."""
    crew.odb_set("/Configurations/Pedestal", pedestal)
    crew.start_run(run)
    for fe in frontends:
        standin.run_frontend(fe, passes)
    for one in analyzers:
        one.poll(1000)
    crew.stop_run()
    for one in analyzers:
        settle(one)
    return {i: int(crew.odb_get(f"/Equipment/Camera{i}/Variables/Frames"))
            for i in range(len(frontends))}


def macro_keys(db: Database, run: int) -> list[tuple[int, int]]:
    frame = db.macro(run)
    return sorted(zip((int(c) for c in frame["camera"]), (int(e) for e in frame["event"]),
                      strict=True))


def test_two_processes_share_the_cameras_and_never_erase_each_other(crew, tmp_path):
    frontends = [CameraFrontend(0), CameraFrontend(1)]
    first, second = analyzer("Online Analyzer"), analyzer(SECOND)
    assert first.cameras == (0,) and first.writes_run_row
    assert second.cameras == (1,) and not second.writes_run_row
    both = [first, second]

    take_run(crew, frontends, both, 3, pedestal=True)
    sent = take_run(crew, frontends, both, 4)
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    expected = sorted((camera, event) for camera, n in sent.items() for event in range(n))
    assert min(sent.values()) > 0
    assert macro_keys(db, 2) == expected  # every image of both cameras, each exactly once
    run = db.runs(2).iloc[0]
    assert run["reco_status"] == "done"
    # the Run row is the writer's; its counters are the totals: each process adds its own
    assert int(run["reco_events"]) == sent[0] + sent[1] == int(run["number_of_events"])
    first_stats = crew.odb_get("/Analyzer/Reco/Statistics")
    second_stats = crew.odb_get(f"/Analyzer/Reco/{SECOND}/Statistics")
    assert first_stats["Events analyzed"] == second_stats["Events analyzed"] > 0
    assert crew.odb_get(f"/Analyzer/Reco/{SECOND}/Last run")["Events analyzed"] == sent[1]
    assert list(db.pedestals(1)["camera"].sort_values()) == [0, 1]
    assert db.runs(1).iloc[0]["reco_status"] == "done"
    reco = sorted(p.name for p in (tmp_path / "out" / "reco").iterdir())
    assert reco == ["run00002_reco_cam0_online.parquet", "run00002_reco_cam1_online.parquet"]

    # run 2 again, analyzed by the second process alone: only CAM1's rows are replaced
    first.close()
    crew.odb_set("/Runinfo/Run number", 1)
    again = take_run(crew, frontends, [second], 2, run=2)
    second.close()
    assert macro_keys(db, 2) == sorted(
        [(0, event) for event in range(sent[0])] + [(1, event) for event in range(again[1])])
    run = db.runs(2).iloc[0]
    # only the Run-row writer resets the counters (at its begin-of-run): a run re-analyzed
    # by an extra process alone gets that process's counts added once more
    assert run["reco_status"] == "done"
    assert int(run["reco_events"]) == sent[0] + sent[1] + again[1]
    assert not standin.error_messages()


def test_a_process_that_takes_every_event_without_writing_the_run_row_is_warned(crew):
    crew.odb_set(f"/Analyzer/Online/{SECOND}/Event IDs", "")
    analyzer(SECOND).close()
    assert any("Event IDs" in text for text in standin.error_messages())


def test_default_process_is_unchanged(crew, tmp_path):
    crew.odb_set("/Analyzer/Online/Event IDs", "")
    one = analyzer("Online Analyzer")
    assert one.cameras is None and one.writes_run_row
    assert one.statistics_path == "/Analyzer/Reco/Statistics"
    one.close()
    assert Path(tmp_path).is_dir()
