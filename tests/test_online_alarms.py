"""The online analyzer's MIDAS alarms: each fires once when its condition holds and is reset
when it clears (seen in /Alarms as the crew's status page sees them)."""

from __future__ import annotations

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas.client  # noqa: E402
import test_online_analyzer as scenario  # noqa: E402
from test_online_analyzer import make_analyzer, settle  # noqa: E402

from cygno_mw.analyzers.online.alarms import (  # noqa: E402
    NO_EVENTS,
    OUTPUT_BEHIND,
    PEDESTAL_DRIFT,
    AlarmLimits,
    OnlineAlarms,
)
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

crew = scenario.crew  # the scenario's fixture


def test_no_events_during_a_run_fires_and_resets(crew):
    fe = CameraFrontend(0)
    analyzer = make_analyzer(**{"No events alarm s": 30.0})
    clock = standin.experiment().clock
    crew.odb_set("/Configurations/Pedestal", True)
    crew.start_run()
    analyzer.poll(1000)
    clock.advance(10.0)
    analyzer.periodic(force=True)
    assert NO_EVENTS not in crew.get_triggered_alarms()  # not yet
    clock.advance(25.0)
    analyzer.periodic(force=True)
    assert NO_EVENTS in crew.get_triggered_alarms()
    assert any("no events" in text for text in standin.error_messages())

    standin.run_frontend(fe, 2)  # events again
    analyzer.poll(1000)
    analyzer.periodic(force=True)
    assert NO_EVENTS not in crew.get_triggered_alarms()

    crew.pause_run()  # a paused run is quiet by design
    analyzer.poll(1000)
    clock.advance(100.0)
    analyzer.periodic(force=True)
    assert NO_EVENTS not in crew.get_triggered_alarms()
    crew.resume_run()
    crew.stop_run()
    settle(analyzer)
    clock.advance(100.0)  # between runs: no alarm either
    analyzer.periodic(force=True)
    assert NO_EVENTS not in crew.get_triggered_alarms()
    analyzer.close()


@pytest.fixture()
def alarms():
    standin.reset()
    client = midas.client.MidasClient("Online Analyzer")
    yield client, OnlineAlarms(client, AlarmLimits(output_backlog_limit=10,
                                                   drift_threshold=5.0))
    client.disconnect()


def test_output_behind_fires_once_and_resets(alarms):
    client, online = alarms
    online.check_output(10)
    assert OUTPUT_BEHIND not in client.get_triggered_alarms()
    online.check_output(11)
    online.check_output(50)
    assert OUTPUT_BEHIND in client.get_triggered_alarms()
    assert client.odb_get(f"/Alarms/Alarms/{OUTPUT_BEHIND}/Triggered") == 1  # once
    online.check_output(0)
    assert OUTPUT_BEHIND not in client.get_triggered_alarms()


def test_pedestal_or_noise_drift_against_the_reference_map(alarms):
    client, online = alarms
    reference = {"pedestal_mean": 99.0, "noise_mean": 2.0}
    online.check_pedestal(5, 0, {"pedestal_mean": 101.0, "noise_mean": 2.5}, None)
    online.check_pedestal(5, 0, {"pedestal_mean": 101.0, "noise_mean": 2.5}, reference)
    assert PEDESTAL_DRIFT not in client.get_triggered_alarms()  # within 5 ADC
    online.check_pedestal(6, 0, {"pedestal_mean": 99.5, "noise_mean": 9.0}, reference)
    triggered = client.get_triggered_alarms()
    assert PEDESTAL_DRIFT in triggered and "noise_mean" in triggered[PEDESTAL_DRIFT]
    online.check_pedestal(6, 1, reference, reference)  # another camera is fine
    assert PEDESTAL_DRIFT in client.get_triggered_alarms()
    online.check_pedestal(7, 0, {"pedestal_mean": 99.0, "noise_mean": 2.0}, reference)
    assert PEDESTAL_DRIFT not in client.get_triggered_alarms()
