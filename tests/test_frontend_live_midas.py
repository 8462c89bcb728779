"""The frontend scenarios against a live MIDAS experiment (marked `midas`; run when MIDASSYS
is set and the real `midas` package is importable).

Each test starts a frontend as MIDAS would (`python -m cygno_mw.frontends.<name> -i 9`, index 9
to stay clear of production indexes), drives it through a client of its own (settings, run
start/stop, SYSTEM buffer) and decodes what it sent with our own format code.  It starts and
stops runs: use a test experiment.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from live_midas import LIVE_MIDAS, idle_client, start_program, stop_program, wait_for

pytestmark = LIVE_MIDAS

INDEX = 9


@pytest.fixture()
def client() -> Iterator[Any]:
    crew = idle_client("cygno-mw-live-test")
    yield crew
    crew.disconnect()


def start_frontend(program: str, client: Any, client_name: str) -> subprocess.Popen:
    return start_program(client, ["frontend", program, "-i", str(INDEX)], client_name)


def collect(client: Any, event_id: int, seconds: float) -> list[bytes]:
    import midas

    handle = client.open_event_buffer("SYSTEM")
    request = client.register_event_request(handle, event_id=event_id,
                                            sampling_type=midas.GET_ALL)
    client.start_run()
    events = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = client.receive_event(handle, async_flag=True)
        if event is None:
            client.communicate(10)
            continue
        events.append(bytes(event.pack()))
    client.stop_run()
    client.deregister_event_request(handle, request)
    return events


def test_camera_frontend_on_a_live_experiment(client):
    from cygno_mw.midasfile.event import decode_event

    settings = f"/Equipment/Camera{INDEX}/Settings"
    client.odb_set(settings, {"Frame rate": 5.0, "Sim pool": 1, "ROI width": 256,
                              "ROI height": 256}, remove_unspecified_keys=False)
    process = start_frontend("camera", client, f"Camera Frontend {INDEX}")
    try:
        events = collect(client, 10 + INDEX, 3.0)
        assert events
        bank = decode_event(events[0]).bank(f"CAM{INDEX}")
        assert bank.data.size == 256 * 256
        client.odb_set(f"{settings}/Exposure", -1.0)
        wait_for(lambda: client.odb_get(f"{settings}/Exposure") > 0, what="Exposure restored")
        assert any("Exposure" in m and "rejected" in m for m in client.get_recent_messages(20))
    finally:
        stop_program(process, timeout=20)


def test_slow_control_and_pmt_frontends_on_a_live_experiment(client):
    from cygno_mw.banks.pmt import decode_pmt_banks
    from cygno_mw.midasfile.event import decode_event

    client.odb_set(f"/Equipment/PMT{INDEX}/Settings", {"Trigger rate": 5.0},
                   remove_unspecified_keys=False)
    slow = start_frontend("slow-control", client, f"Slow Control Frontend {INDEX}")
    pmt = start_frontend("pmt", client, f"PMT Frontend {INDEX}")
    try:
        events = collect(client, 20 + INDEX, 3.0)
        assert events
        decoded = decode_event(events[0])
        boards = decode_pmt_banks(decoded.bank(f"DGH{INDEX}").data,
                                  decoded.bank(f"DIG{INDEX}").data)
        assert [b.model for b in boards] == [1742, 1720]
        measured = wait_for(lambda: client.odb_exists(
            f"/Equipment/SlowControl{INDEX}/Variables/Measured"), what="slow-control readings")
        assert measured
    finally:
        stop_program(pmt, timeout=20)
        stop_program(slow, timeout=20)
