"""The online analyzer driven through the MIDAS stand-in: the camera frontend (small simulated
frames) fills the SYSTEM buffer, the crew starts and stops runs, results land in SQL and the
ODB; runs stay attributed right when the analyzer lags behind the DAQ."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas  # noqa: E402
import midas.client  # noqa: E402
import midas.event  # noqa: E402

from cygno_mw.analyzers.online.analyzer import OnlineAnalyzer  # noqa: E402
from cygno_mw.analyzers.outputs.query import Database  # noqa: E402
from cygno_mw.analyzers.parameters import AnalyzerParameters  # noqa: E402
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

CAMERA = "/Equipment/Camera0"
RECO = "/Analyzer/Parameters/Reco"


def parameters(tmp_path: Path, database_url: str | None = None,
               reco_file_format: str = "none") -> dict:
    """Reco window fitted to 256x512 frames; outputs under tmp_path."""
    params = AnalyzerParameters.defaults().updated(
        "Reco", {"xmax": 512, "ymin": 0, "ymax": 256, "backend": "numpy", "batch_size": 1,
                 "vignette_map": "none"})
    params = params.updated("Output", {
        "database_url": database_url or f"sqlite:///{tmp_path / 'cygno.sqlite'}",
        "output_dir": str(tmp_path / "out"), "reco_file_format": reco_file_format})
    return params.to_odb()


@pytest.fixture()
def crew(tmp_path):
    """A fresh experiment with a small simulated camera and analyzer parameters."""
    standin.reset()
    crew = midas.client.MidasClient("crew")
    crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
    crew.odb_set("/Experiment/Buffer sizes/SYSTEM", 256 * 1024 * 1024)
    crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 0.0, "Sim pool": 2, "ROI width": 512,
                                        "ROI height": 256, "ROI x0": 64, "ROI y0": 128},
                 remove_unspecified_keys=False)
    crew.odb_set("/Analyzer/Parameters", parameters(tmp_path))
    crew.odb_set("/Configurations/Pedestal", False)
    yield crew
    crew.disconnect()


def make_analyzer(gate: threading.Event | None = None, **settings) -> OnlineAnalyzer:
    """The analyzer as a MIDAS client; `settings` go to /Analyzer/Online first."""
    client = midas.client.MidasClient("Online Analyzer")
    if settings:
        client.odb_set("/Analyzer/Online", settings, remove_unspecified_keys=False)
    return OnlineAnalyzer(client, clock=standin.experiment().clock.now,
                          gate=gate)


def take_run(crew, fe, analyzer, passes: int, pedestal: bool = False) -> int:
    """One run of `passes` frontend loop passes; returns the frames the camera sent."""
    crew.odb_set("/Configurations/Pedestal", pedestal)
    crew.start_run()
    standin.run_frontend(fe, passes)
    analyzer.poll(1000)
    crew.stop_run()
    analyzer.poll(1000)
    return int(crew.odb_get(f"{CAMERA}/Variables/Frames"))


def settle(analyzer: OnlineAnalyzer) -> None:
    """Receive and process everything there is (no clocks: wait on the backlog itself)."""
    while True:
        assert analyzer.processor.backlog.wait_empty(120)
        if analyzer.poll(1000) == 0:  # with an empty backlog: the buffer is empty too
            break
    assert analyzer.processor.backlog.wait_empty(120)
    analyzer.periodic(force=True)


def macro_events(db: Database, run: int) -> list[int]:
    frame = db.macro(run)
    return sorted(int(e) for e in frame["event"]) if len(frame) else []


def test_full_run_pedestal_then_physics_with_live_parameter_change(crew, tmp_path):
    fe = CameraFrontend(0)
    analyzer = make_analyzer()
    n1 = take_run(crew, fe, analyzer, 5, pedestal=True)
    settle(analyzer)

    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()
    standin.run_frontend(fe, 4)
    analyzer.poll(1000)
    standin.set_as_user(f"{RECO}/nsigma", 0.8)  # the crew tunes the reconstruction mid-run
    standin.set_as_user(f"{RECO}/rebin", -3)  # a bad value: refused, the old one kept
    analyzer.client.communicate(0)
    standin.run_frontend(fe, 3)
    analyzer.poll(1000)
    crew.stop_run()
    n2 = int(crew.odb_get(f"{CAMERA}/Variables/Frames"))
    settle(analyzer)
    analyzer.close()

    assert analyzer.params.reco.nsigma == pytest.approx(0.8)
    assert crew.odb_get(f"{RECO}/rebin") == 4
    assert any("rebin" in text for text in standin.error_messages())
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    runs = db.runs().set_index("run")
    assert runs.loc[1, "reco_status"] == "done" and runs.loc[2, "reco_status"] == "done"
    assert int(runs.loc[2, "reco_events"]) == n2 and int(runs.loc[2, "number_of_events"]) == n2
    pedestals = db.pedestals(1)
    assert list(pedestals["camera"]) == [0] and int(pedestals["n_images"].iloc[0]) == n1
    assert macro_events(db, 2) == list(range(n2))
    # results belong to the processing pass /Analyzer/Online/Pass name, finished at close
    assert set(db.macro(2)["pass_name"]) == {"online"}
    assert db.passes().set_index("pass_name").loc["online", "status"] == "finished"
    stats = crew.odb_get("/Analyzer/Reco/Statistics")
    assert stats["Events received"] == n1 + n2 and stats["Events analyzed"] == n1 + n2
    assert stats["Events skipped"] == 0 and stats["Backend"] == "numpy"
    assert stats["Latency p99 ms"] >= stats["Latency p50 ms"] > 0
    assert Path(crew.odb_get("/Analyzer/Display/Camera0/File")).is_file()
    last = crew.odb_get("/Analyzer/Reco/Last run")
    assert last["Run"] == 2 and last["Events analyzed"] == n2
    assert any("run 2 done" in m.text for m in standin.messages())


@pytest.mark.parametrize("transition_timeout", [2.0, 0.0], ids=["drained", "drain-cut"])
def test_events_queued_when_run_ends_stay_in_their_run(crew, tmp_path, transition_timeout):
    """The old drift bug: processing lags, run N+1 starts with run N still queued.  Events
    must keep run N (the old code read /Runinfo/Run number at processing time)."""
    fe = CameraFrontend(0)
    gate = threading.Event()
    analyzer = make_analyzer(gate=gate, Sampling="GET_ALL", **{
        "Max backlog": 2, "Transition timeout s": transition_timeout})
    gate.set()
    take_run(crew, fe, analyzer, 4, pedestal=True)
    settle(analyzer)

    gate.clear()  # a slow analyzer: nothing gets processed for now
    n2 = take_run(crew, fe, analyzer, 6)
    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()  # returned: the DAQ was not held up by the backlog
    standin.run_frontend(fe, 4)
    assert crew.odb_get("/Runinfo/Run number") == 3
    assert len(analyzer.processor.backlog) > 0  # run 2 is still waiting to be processed
    gate.set()
    settle(analyzer)
    crew.stop_run()
    n3 = int(crew.odb_get(f"{CAMERA}/Variables/Frames"))
    settle(analyzer)
    analyzer.close()

    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    assert macro_events(db, 2) == list(range(n2))
    assert macro_events(db, 3) == list(range(n3))
    runs = db.runs().set_index("run")
    assert list(runs["reco_status"]) == ["done", "done", "done"]
    assert int(runs.loc[2, "reco_events"]) == n2 and int(runs.loc[3, "reco_events"]) == n3


def test_tracker_follows_serial_restart_after_a_cut_drain():
    from cygno_mw.analyzers.online.run_tracker import EventItem, RunBegin, RunEnd, RunTracker

    tracker = RunTracker()
    items = tracker.begin(7, {})
    items += tracker.label(10, 0, "a", 0.0) + tracker.label(10, 1, "b", 0.0)
    items += tracker.end(7, {}, drained=False)  # the stop callback ran out of time
    items += tracker.begin(8, {})
    for serial, name in ((2, "c"), (3, "d"), (0, "e"), (1, "f")):
        items += tracker.label(10, serial, name, 0.0)
    items += tracker.end(8, {}, drained=True)
    kinds = [(type(i).__name__, i.run, getattr(i, "event", None)) for i in items]
    assert kinds == [
        ("RunBegin", 7, None), ("EventItem", 7, "a"), ("EventItem", 7, "b"),
        ("EventItem", 7, "c"), ("EventItem", 7, "d"), ("RunEnd", 7, None),
        ("RunBegin", 8, None), ("EventItem", 8, "e"), ("EventItem", 8, "f"),
        ("RunEnd", 8, None)]
    assert all(isinstance(i, RunBegin | RunEnd | EventItem) for i in items)


def test_malformed_events_are_skipped_and_counted_and_status_page_stop_flushes(crew, tmp_path):
    fe = CameraFrontend(0)
    analyzer = make_analyzer()
    take_run(crew, fe, analyzer, 3, pedestal=True)
    settle(analyzer)
    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()
    standin.run_frontend(fe, 3)
    bad = midas.event.Event()
    bad.header.event_id, bad.header.serial_number = 10, 99
    bad.create_bank("CAM0", midas.TID_WORD, [1, 2, 3])  # not a 256x512 image
    handle = crew.open_event_buffer("SYSTEM")
    crew.send_event(handle, bad)
    analyzer.poll(1000)
    standin.request_shutdown("Online Analyzer")
    with pytest.raises(SystemExit):
        analyzer.run_forever()  # stopped from the status page: flushes the open run first

    stats = crew.odb_get("/Analyzer/Reco/Statistics")
    assert stats["Events skipped"] == 1
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    frames = next(iter(fe.equipment.values())).stats["events"]  # sent in this run so far
    assert macro_events(db, 2) == list(range(frames))
    run = db.runs(2).iloc[0]  # its later events were never seen: partial, not done
    assert run["reco_status"] == "partial" and bool(run["partial"])
    assert int(run["reco_events"]) == frames
    assert any("run 2 partial" in m.text for m in standin.messages())


def test_tracker_when_the_next_run_also_ends_before_its_events_are_read():
    from cygno_mw.analyzers.online.run_tracker import RunTracker

    tracker = RunTracker()
    items = tracker.begin(1, {}) + tracker.label(10, 0, "a", 0.0)
    items += tracker.end(1, {}, drained=False) + tracker.begin(2, {})
    items += tracker.end(2, {}, drained=False)  # both tails still in the buffer
    for serial, name in ((1, "b"), (0, "c"), (1, "d")):
        items += tracker.label(10, serial, name, 0.0)
    items += tracker.buffer_empty()
    kinds = [(type(i).__name__, i.run, getattr(i, "event", None)) for i in items]
    assert kinds == [
        ("RunBegin", 1, None), ("EventItem", 1, "a"), ("EventItem", 1, "b"),
        ("RunEnd", 1, None), ("RunBegin", 2, None), ("EventItem", 2, "c"),
        ("EventItem", 2, "d"), ("RunEnd", 2, None)]


def test_online_settings_apply_live_or_at_the_next_run(crew, tmp_path):
    """/Analyzer/Online is watched: limits and intervals apply at once, a bad value is
    refused with a message and put back, the event request changes at the next run."""
    fe = CameraFrontend(0)
    analyzer = make_analyzer()
    standin.set_as_user("/Analyzer/Online/Statistics interval s", 7.0)
    standin.set_as_user("/Analyzer/Online/No events alarm s", 30.0)
    standin.set_as_user("/Analyzer/Online/Pedestal drift threshold", 2.5)
    standin.set_as_user("/Analyzer/Online/Output backlog limit", 10)
    standin.set_as_user("/Analyzer/Online/SQL flush interval s", 0.5)
    standin.set_as_user("/Analyzer/Online/Transition timeout s", 1.0)
    standin.set_as_user("/Analyzer/Online/Display interval s", 3.0)
    standin.set_as_user("/Analyzer/Online/Max backlog", -3)  # bad: refused, 64 put back
    standin.set_as_user("/Analyzer/Online/Sampling", "GET_EVERYTHING")  # bad too
    analyzer.client.communicate(0)
    assert analyzer.settings["Statistics interval s"] == 7.0
    assert analyzer.settings["Display interval s"] == 3.0
    assert analyzer.alarms.limits.no_events_s == 30.0
    assert analyzer.alarms.limits.drift_threshold == 2.5
    assert analyzer.alarms.limits.output_backlog_limit == 10
    assert analyzer.processor.flush_interval_s == 0.5
    assert analyzer.transition_timeout_s == 1.0
    assert analyzer.max_backlog == 64 and crew.odb_get("/Analyzer/Online/Max backlog") == 64
    assert crew.odb_get("/Analyzer/Online/Sampling") == "GET_NONBLOCKING"
    errors = standin.error_messages()
    assert any("Max backlog" in text for text in errors)
    assert any("Sampling" in text for text in errors)
    assert any("applied now" in m.text for m in standin.messages())

    # the event request changes at the next begin-of-run: CAM0's events no longer wanted
    standin.set_as_user("/Analyzer/Online/Event IDs", "11")
    analyzer.client.communicate(0)
    assert analyzer.request.event_ids == (-1,)
    assert any("next begin-of-run" in m.text for m in standin.messages())
    take_run(crew, fe, analyzer, 3)
    settle(analyzer)
    assert analyzer.request.event_ids == (11,) and analyzer.cameras == (1,)
    assert crew.odb_get("/Analyzer/Reco/Statistics")["Events received"] == 0
    analyzer.close()
    assert len(standin.error_messages()) == 2
