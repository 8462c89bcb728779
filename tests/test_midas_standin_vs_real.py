"""The stand-in held to the real MIDAS package (marked `midas`) on what our programs rely on
and the stand-in once hid: `odb_get` of a missing key raises KeyError; `communicate()`
disconnects and exits 0 when the client is told to stop; an existing, partial
`/Equipment/<name>/Common` (mlogger's `Log history`) is left as it is by `EquipmentBase`.
Each behaviour is observed on the live experiment (a real client in its own process) and on
the stand-in (this process), and must agree."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from live_midas import LIVE_MIDAS, connected, exit_status, wait_for

pytestmark = LIVE_MIDAS

standin = pytest.importorskip("midas.standin", reason="the stand-in must be on the path")

import midas  # noqa: E402  (the stand-in in this process)
import midas.client  # noqa: E402
import midas.frontend  # noqa: E402


def real_python(experiment, code: str) -> subprocess.Popen:
    """`code` in a process of its own on the real package, connected to the experiment."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=experiment.env,
                            cwd=experiment.directory, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_odb_get_of_a_missing_key_raises_key_error(midas_experiment):
    with pytest.raises(KeyError):
        midas_experiment.crew.odb_get("/No/Such/Key")
    standin.reset()
    client = midas.client.MidasClient("probe")
    try:
        with pytest.raises(KeyError):
            client.odb_get("/No/Such/Key")
    finally:
        client.disconnect()


def test_communicate_disconnects_and_exits_0_when_told_to_stop(midas_experiment):
    probe = real_python(midas_experiment, """
        import midas.client
        client = midas.client.MidasClient("cygno-mw probe")
        try:
            while True:
                client.communicate(100)
        finally:
            print("connected after stop:", midas.client._midas_connected, flush=True)
        """)
    crew = midas_experiment.crew
    wait_for(lambda: connected(crew, "cygno-mw probe"), 30, "the probe to connect")
    midas_experiment.jsonrpc("cm_shutdown", {"name": "cygno-mw probe", "unique": True})
    status = exit_status(probe)
    output = probe.stdout.read() if probe.stdout else ""
    assert status == 0
    assert "connected after stop: False" in output

    standin.reset()
    client = midas.client.MidasClient("cygno-mw probe")
    standin.request_shutdown("cygno-mw probe")
    with pytest.raises(SystemExit) as stop:
        client.communicate(100)
    assert stop.value.code == 0
    assert "cygno-mw probe" not in [c.name for c in standin.experiment().clients]


def test_equipment_base_leaves_a_partial_common_alone(midas_experiment):
    crew = midas_experiment.crew
    crew.odb_set("/Equipment/Probe/Settings", {"Value": 1})
    crew.start_run()  # mlogger, at begin of run, makes Common/Log history for equipment
    crew.stop_run()
    wait_for(lambda: crew.odb_exists("/Equipment/Probe/Common/Log history"), 30,
             "mlogger's Common/Log history")
    probe = real_python(midas_experiment, """
        import midas, midas.client, midas.frontend
        client = midas.client.MidasClient("cygno-mw probe")
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type, common.event_id, common.buffer_name = midas.EQ_POLLED, 99, "SYSTEM"
        midas.frontend.EquipmentBase(client, "Probe", common)
        print("common:", sorted(client.odb_get("/Equipment/Probe/Common")), flush=True)
        client.disconnect()
        """)
    assert exit_status(probe) == 0
    real_keys = probe.stdout.read() if probe.stdout else ""
    assert "common: ['Log history', 'Status', 'Status color']" in real_keys

    standin.reset()
    client = midas.client.MidasClient("cygno-mw probe")
    try:
        client.odb_set("/Equipment/Probe/Common/Log history", 0)
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type, common.event_id, common.buffer_name = midas.EQ_POLLED, 99, "SYSTEM"
        midas.frontend.EquipmentBase(client, "Probe", common)
        assert sorted(client.odb_get("/Equipment/Probe/Common")) == [
            "Log history", "Status", "Status color"]
    finally:
        client.disconnect()
