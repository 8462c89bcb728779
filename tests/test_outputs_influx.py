"""InfluxDB sink against victoria-metrics (InfluxDB v2 write API), read back through its export
API: schema, non-blocking bounded buffer, retries across an outage."""

from __future__ import annotations

import time

import pytest

from cygno_mw.analyzers.outputs import influx_schema
from cygno_mw.analyzers.outputs.errors import InfluxError
from cygno_mw.analyzers.outputs.influx_sink import InfluxSink


def wait_for_series(server, match: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """Poll the export API until `expected` series are there (a point shows up a few hundred
    milliseconds after it is written)."""
    deadline = time.monotonic() + timeout
    while True:
        series = server.export(match)
        if len(series) >= expected or time.monotonic() > deadline:
            return series
        time.sleep(0.05)


@pytest.mark.influx
def test_points_arrive_with_tags_and_values(influx_server) -> None:
    now = time.time()
    with InfluxSink(influx_server.url, token="tok-1234", flush_interval=0.05) as sink:
        for number in range(5):
            sink.write_reco(31, 0, {"nclusters": number, "cmos_integral": 1000.5 + number,
                                    "cmos_mean": 1.25, "cmos_rms": 2.5},
                            time=now - 5 + number, processing_time_s=0.125)
        sink.write_image_quality(31, 0, pedestal_mean=99.5, noise_mean=2.0, hot_pixels=7,
                                 time=now)
        sink.write_slow_control("GasSystem", {"flow": 20.5, "Pressure [mbar]": 1013.0},
                                run=31, time=now)
        sink.write_daq("Trigger", run=31, event_rate_hz=12.5, time=now)
        assert sink.flush(timeout=20)
        stats = sink.stats()
    assert stats["written"] == 8 and stats["dropped"] == 0 and stats["retries"] == 0

    reco = {s["metric"]["__name__"]: s for s in
            wait_for_series(influx_server, '{__name__=~"cygno_reco_.*",run="31"}', 5)}
    assert set(reco) == {"cygno_reco_nclusters", "cygno_reco_cmos_integral",
                         "cygno_reco_cmos_mean", "cygno_reco_cmos_rms",
                         "cygno_reco_processing_time_s"}
    nclusters = reco["cygno_reco_nclusters"]
    assert nclusters["metric"]["camera"] == "0"
    assert nclusters["values"] == [0, 1, 2, 3, 4]
    assert reco["cygno_reco_cmos_integral"]["values"][0] == 1000.5
    assert abs(nclusters["timestamps"][0] / 1000 - (now - 5)) < 0.01
    slow = wait_for_series(influx_server, '{__name__=~"cygno_slow_control_.*",run="31"}', 2)
    assert {s["metric"]["__name__"] for s in slow} == {
        "cygno_slow_control_flow", "cygno_slow_control_Pressure__mbar_"}
    assert all(s["metric"]["equipment"] == "GasSystem" for s in slow)
    assert wait_for_series(influx_server, '{__name__="cygno_daq_event_rate_hz"}', 1)
    assert wait_for_series(influx_server, '{__name__="cygno_image_quality_hot_pixels"}', 1)


@pytest.mark.influx
def test_outage_is_retried_until_the_server_returns(influx_server) -> None:
    now = time.time()
    influx_server.stop()
    try:
        sink = InfluxSink(influx_server.url, flush_interval=0.05, initial_backoff=0.05,
                          max_backoff=0.2)
        for number in range(20):
            assert sink.write_reco(32, 1, {"nclusters": number}, time=now - 20 + number)
        deadline = time.monotonic() + 30
        while sink.stats()["retries"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.stats()["retries"] >= 2 and sink.stats()["written"] == 0
        assert not sink.keeping_up()  # optional points (statistics) wait for the recovery
    finally:
        influx_server.start()
    assert sink.flush(timeout=30)
    assert sink.keeping_up()
    sink.close()
    assert sink.stats()["written"] == 20 and sink.stats()["dropped"] == 0
    series = wait_for_series(influx_server, '{__name__="cygno_reco_nclusters",run="32"}', 1)
    deadline = time.monotonic() + 30
    while len(series[0]["values"]) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
        series = influx_server.export('{__name__="cygno_reco_nclusters",run="32"}')
    assert series[0]["values"] == list(range(20))


def test_full_buffer_drops_and_counts_without_blocking() -> None:
    """Nothing listens: the caller is never held up, overflow is dropped and counted."""
    sink = InfluxSink("http://127.0.0.1:1", max_buffer=10, batch_size=5,
                      flush_interval=0.05, initial_backoff=0.05, max_backoff=0.1)
    accepted = sum(sink.write_daq("Trigger", events=n) for n in range(1000))
    stats = sink.stats()
    assert accepted + stats["dropped"] == 1000
    assert stats["buffered"] <= 10 + 5 and stats["dropped"] >= 1000 - 15
    sink.close(timeout=0.2)
    final = sink.stats()
    assert final["written"] == 0 and final["dropped"] == 1000 and final["buffered"] == 0
    assert "Connection refused" in final["last_error"] or final["last_error"]


def test_schema_is_enforced() -> None:
    measurement = influx_schema.RECO
    with pytest.raises(InfluxError, match="unknown field"):
        influx_schema.line(measurement, {"run": 1}, {"colour": 1.0})
    with pytest.raises(InfluxError, match="unknown tags"):
        influx_schema.line(measurement, {"shift": "night"}, {"nclusters": 1})
    text = influx_schema.line(measurement, {"run": 1, "camera": 0},
                              {"nclusters": 3, "cmos_mean": 1.5, "cmos_rms": float("nan")},
                              time=1.5)
    assert text == "cygno_reco,camera=0,run=1 nclusters=3i,cmos_mean=1.5 1500000000"
    assert influx_schema.line(measurement, {}, {"cmos_rms": None}) is None
    assert influx_schema.field_name("HV ch 1/V") == "HV_ch_1_V"


def test_token_is_never_in_stats_or_logs(caplog) -> None:
    secret = "tok-SECRET-98765"
    sink = InfluxSink("http://127.0.0.1:1", token=secret, flush_interval=0.02,
                      initial_backoff=0.02, max_backoff=0.05)
    sink.write_daq("Trigger", events=1)
    deadline = time.monotonic() + 10
    while sink.stats()["retries"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    sink.close(timeout=0.1)
    assert secret not in str(sink.stats()) and secret not in caplog.text
