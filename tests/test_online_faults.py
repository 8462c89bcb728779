"""The online analyzer while a server is down: the real servers (tests/servers.py) are stopped
in the middle of a run and started again; nothing may crash, SQL must lose nothing.

Skipped when a server binary is missing (CI installs them with .ci/services)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import test_online_analyzer as scenario  # noqa: E402
from test_online_analyzer import (  # noqa: E402
    CAMERA,
    macro_events,
    make_analyzer,
    parameters,
    settle,
    take_run,
)

from cygno_mw.analyzers.online.alarms import OUTPUT_BEHIND  # noqa: E402
from cygno_mw.analyzers.outputs.query import Database  # noqa: E402
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

crew = scenario.crew  # the scenario's fixture: a fresh experiment with a small camera


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll `condition` until it holds (no timed assertion: the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def unique_run() -> int:
    """A run number no other test of the session uses (the servers are session-shared)."""
    return 100_000 + uuid.uuid4().int % 1_000_000


def frames(client) -> int:
    """Frames the camera sent in the last run (the ODB variable is updated at its end)."""
    return int(client.odb_get(f"{CAMERA}/Variables/Frames"))


def sent(fe: CameraFrontend) -> int:
    """Frames the camera sent in the current run so far."""
    return int(next(iter(fe.equipment.values())).stats["events"])


def analyzed(client) -> float:
    return client.odb_get("/Analyzer/Reco/Statistics")["Events analyzed"]


@pytest.mark.mariadb
def test_database_down_mid_run_spools_on_disk_then_writes_everything_once(
        crew, tmp_path, mariadb_server, mariadb_url):
    crew.odb_set("/Analyzer/Parameters", parameters(tmp_path, mariadb_url))
    fe = CameraFrontend(0)
    analyzer = make_analyzer(**{"SQL flush interval s": 0.0, "Output backlog limit": 0})
    take_run(crew, fe, analyzer, 3, pedestal=True)
    settle(analyzer)
    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()
    standin.run_frontend(fe, 2)
    settle(analyzer)  # these reach MariaDB directly

    def spooled() -> int:
        sinks = analyzer.processor.sinks
        return sinks.backlog()["sql_spooled_batches"] if sinks is not None else 0

    mariadb_server.stop()
    try:
        standin.run_frontend(fe, 3)
        settle(analyzer)
        crew.stop_run()  # the end-of-run (the Run row completed) happens during the outage
        settle(analyzer)
        n2 = frames(crew)
        wait_for(lambda: spooled() > 0, "batches in the spool")
        assert any((tmp_path / "out" / "spool").iterdir())
        analyzer.periodic(force=True)
        assert any("SQL database unavailable" in text for text in standin.error_messages())
        assert OUTPUT_BEHIND in crew.get_triggered_alarms()
    finally:
        mariadb_server.start()
    wait_for(lambda: spooled() == 0, "the spool to drain")  # no event needed: idle retries
    analyzer.periodic(force=True)
    assert OUTPUT_BEHIND not in crew.get_triggered_alarms()
    assert any("SQL database back" in m.text for m in standin.messages())
    analyzer.close()

    db = Database(mariadb_url)
    assert macro_events(db, 2) == list(range(n2))  # every event, exactly once
    reco = db.reco(2)
    keys = list(zip(reco["event"], reco["camera"], reco["cluster"], strict=True))
    assert len(keys) == len(set(keys)) and set(reco["event"]) <= set(range(n2))
    run = db.runs(2).iloc[0]
    assert run["reco_status"] == "done" and int(run["reco_events"]) == n2
    assert crew.odb_get("/Analyzer/Reco/Statistics")["Output dropped"] == 0


def reco_points(server, run: int, ready: Callable[[int], bool]) -> int:
    """Samples of cygno_reco_nclusters for `run`, once `ready(count)` holds (or the deadline)."""
    selector = f'{{__name__="cygno_reco_nclusters", run="{run}"}}'
    count = 0
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        count = sum(len(series["values"]) for series in server.export(selector))
        if ready(count):
            break
        time.sleep(0.1)
    return count


@pytest.mark.influx
@pytest.mark.parametrize("overflow", [False, True], ids=["buffered", "overflow"])
def test_influx_down_mid_run_buffers_retries_and_keeps_analyzing(
        crew, tmp_path, influx_server, overflow):
    run = unique_run()
    params = parameters(tmp_path)
    params["Output"]["influx_url"] = influx_server.url
    crew.odb_set("/Analyzer/Parameters", params)
    crew.odb_set("/Runinfo/Run number", run - 2)  # pedestal run `run - 1`, then `run`
    fe = CameraFrontend(0)
    analyzer = make_analyzer()
    take_run(crew, fe, analyzer, 3, pedestal=True)
    settle(analyzer)
    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()
    assert crew.odb_get("/Runinfo/Run number") == run
    standin.run_frontend(fe, 2)
    settle(analyzer)
    before = sent(fe)
    analyzer.periodic(force=True)
    analyzed_before = analyzed(crew)
    influx = analyzer.processor.sinks.influx
    wait_for(lambda: influx.stats()["buffered"] == 0, "points sent before the outage")

    influx.max_backoff = 0.5  # retry often: the test need not wait out a long backoff
    influx_server.stop()
    try:
        if overflow:
            influx.max_buffer = 1  # a long outage: the bounded buffer overflows
        standin.run_frontend(fe, 4)
        settle(analyzer)  # the analysis goes on
        wait_for(lambda: influx.stats()["failed_attempts"] > 0, "a failed write")
        analyzer.periodic(force=True)
        assert analyzed(crew) == analyzed_before + sent(fe) - before
        if overflow:
            assert crew.odb_get("/Analyzer/Reco/Statistics")["Output dropped"] > 0
    finally:
        influx.max_buffer = 100_000
        influx_server.start()
    during = sent(fe) - before
    standin.run_frontend(fe, 2)  # after recovery
    crew.stop_run()
    settle(analyzer)
    n = frames(crew)
    assert n - before - during > 0  # some events came after the recovery
    dropped = influx.stats()["dropped"]
    assert (dropped > 0) == overflow and dropped <= during
    count = reco_points(influx_server, run, lambda found: found >= n - dropped)
    assert count == n - dropped  # every point not dropped got through, retried
    analyzer.close()
    db = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}")
    assert macro_events(db, run) == list(range(n))
