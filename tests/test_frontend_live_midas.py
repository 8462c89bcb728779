"""The frontend scenarios against the session's live MIDAS experiment (marked `midas`).

Each test starts a frontend as MIDAS would (`cygno-mw frontend <name> -i 9`), drives it
through the crew's client (settings, run start/stop, SYSTEM buffer) and decodes what it sent
with our own format code.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from live_midas import (
    LIVE_MIDAS,
    exit_status,
    idle_client,
    start_program,
    stop_program,
    wait_for,
)

pytestmark = LIVE_MIDAS

INDEX = 9


@pytest.fixture()
def client(midas_experiment) -> Iterator[Any]:
    yield idle_client(midas_experiment)


def start_frontend(program: str, experiment: Any, client_name: str) -> subprocess.Popen:
    return start_program(experiment, ["frontend", program, "-i", str(INDEX)], client_name)


def collect(client: Any, event_id: int, seconds: float) -> list[bytes]:
    """The events `event_id` sent to SYSTEM during a run of `seconds`."""
    return client.collect("SYSTEM", event_id, seconds)


def test_camera_frontend_on_a_live_experiment(client, midas_experiment):
    from cygno_mw.midasfile.event import decode_event

    settings = f"/Equipment/Camera{INDEX}/Settings"
    client.odb_set(settings, {"Frame rate": 5.0, "Sim pool": 1, "ROI width": 256,
                              "ROI height": 256}, remove_unspecified_keys=False)
    process = start_frontend("camera", midas_experiment, f"Camera Frontend {INDEX}")
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


def test_slow_control_and_pmt_frontends_on_a_live_experiment(client, midas_experiment):
    from cygno_mw.banks.pmt import decode_pmt_banks
    from cygno_mw.midasfile.event import decode_event

    client.odb_set(f"/Equipment/PMT{INDEX}/Settings", {"Trigger rate": 5.0},
                   remove_unspecified_keys=False)
    slow = start_frontend("slow-control", midas_experiment, f"Slow Control Frontend {INDEX}")
    pmt = start_frontend("pmt", midas_experiment, f"PMT Frontend {INDEX}")
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


def test_frontends_start_where_mlogger_made_a_partial_common(client, midas_experiment):
    """mlogger, at every begin of run, creates `Common/Log history` for equipment it finds,
    e.g. right after `odb install` wrote Settings; each frontend must still start and send."""
    from cygno_mw.frontends.frontend_names import camera_event_id

    index = 7
    client.odb_set(f"/Equipment/Camera{index}/Settings",
                   {"Frame rate": 5.0, "ROI width": 64, "ROI height": 64, "Sim pool": 1})
    client.odb_set(f"/Equipment/PMT{index}/Settings", {"Trigger rate": 5.0})
    client.odb_set(f"/Equipment/SlowControl{index}/Settings", {"Retry period": 10.0})
    client.start_run()
    client.stop_run()
    for equipment in (f"Camera{index}", f"PMT{index}", f"SlowControl{index}"):
        assert list(client.odb_get(f"/Equipment/{equipment}/Common")) == ["Log history"]
    programs = [start_program(midas_experiment, ["frontend", program, "-i", str(index)], name)
                for program, name in (("camera", f"Camera Frontend {index}"),
                                      ("pmt", f"PMT Frontend {index}"),
                                      ("slow-control", f"Slow Control Frontend {index}"))]
    try:
        events = client.collect("SYSTEM", camera_event_id(index), 2.0)
        assert events
        assert all(p.poll() is None for p in programs)
        assert client.odb_get(f"/Equipment/Camera{index}/Common/Buffer") == "SYSTEM"
    finally:
        for process in programs:
            stop_program(process, timeout=20)


def test_a_frontend_stopped_from_the_status_page_exits_0_with_its_statistics(
        client, midas_experiment):
    index = 6
    client.odb_set(f"/Equipment/Camera{index}/Settings",
                   {"Frame rate": 5.0, "ROI width": 64, "ROI height": 64, "Sim pool": 1},
                   remove_unspecified_keys=False)
    process = start_frontend_index("camera", midas_experiment, index)
    events = client.collect("SYSTEM", 10 + index, 2.0)
    midas_experiment.jsonrpc("cm_shutdown", {"name": f"Camera Frontend {index}",
                                             "unique": True})
    assert exit_status(process) == 0
    sent = client.odb_get(f"/Equipment/Camera{index}/Statistics/Events sent")
    assert sent == len(events) > 0


def start_frontend_index(program: str, experiment: Any, index: int) -> subprocess.Popen:
    names = {"camera": "Camera Frontend", "pmt": "PMT Frontend",
             "slow-control": "Slow Control Frontend"}
    return start_program(experiment, ["frontend", program, "-i", str(index)],
                         f"{names[program]} {index}")
