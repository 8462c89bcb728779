"""Slow-control frontend on the MIDAS stand-in: sim readings, history Variables + MSRD bank,
live Settings, and the opcua driver against an asyncua server started here (lost, then back)."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from typing import ClassVar

import numpy as np
import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas  # noqa: E402
import midas.client  # noqa: E402

from cygno_mw.banks.slow_control import GAS_NAMES, layouts_from_odb, readings_from_banks  # noqa: E402
from cygno_mw.frontends.slow_control.equipment import SlowControlFrontend  # noqa: E402
from cygno_mw.midasfile.event import decode_event  # noqa: E402

EQ = "/Equipment/SlowControl0"


@pytest.fixture()
def client():
    standin.reset()
    crew = midas.client.MidasClient("crew")
    yield crew
    crew.disconnect()


def preset(client, **settings) -> None:
    client.odb_set(f"{EQ}/Settings", settings, remove_unspecified_keys=False)


def run_and_collect(client, fe, passes: int) -> list:
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle, event_id=30)
    standin.run_frontend(fe, passes)
    events = []
    while (event := client.receive_event(handle)) is not None:
        events.append(event)
    return events


def test_sim_readings_reach_history_variables_and_the_bank(client):
    fe = SlowControlFrontend(0)
    common = client.odb_get(f"{EQ}/Common")
    assert common["Log history"] == 1 and common["Period"] == 10000
    assert common["Read on"] == midas.RO_ALWAYS
    # 10 ms virtual time per pass: 2500 passes are 25 s, i.e. readouts at 0, 10 and 20 s
    events = run_and_collect(client, fe, 2500)
    assert len(events) == 3
    variables = client.odb_get(f"{EQ}/Variables")
    assert list(variables) == ["Measured"]  # no extra per-bank copy in Variables
    measured = variables["Measured"]
    assert len(measured) == len(GAS_NAMES) and all(math.isfinite(v) for v in measured)
    assert measured[0] == pytest.approx(3.01, abs=0.1)  # STS_Flow_FCT101_VALU

    bank = decode_event(bytes(events[-1].pack())).bank("MSRD")
    assert bank.data.dtype == np.float32
    np.testing.assert_allclose(bank.data, measured, rtol=1e-6)
    # the analyzer's decoder finds the layout in the ODB and names the values
    layout = layouts_from_odb(client.odb_get("/"))["SlowControl0"]
    assert layout.event_id == 30
    named = readings_from_banks(layout, {"MSRD": bank.data})
    assert list(named) == list(GAS_NAMES)


def test_names_change_live_and_unknown_channels_read_nan(client):
    fe = SlowControlFrontend(0)
    standin.set_as_user(f"{EQ}/Settings/Names", ["Temperature", "Pressure", "Mystery"])
    run_and_collect(client, fe, 1100)  # the first readout, then one 10 s later
    measured = client.odb_get(f"{EQ}/Variables/Measured")
    assert len(measured) == 3
    assert math.isfinite(measured[0]) and math.isnan(measured[2])
    assert any("Mystery" in m for m in standin.error_messages())


def test_bad_slow_control_settings_are_rejected(client):
    fe = SlowControlFrontend(0)
    standin.set_as_user(f"{EQ}/Settings/Names", ["a", "a"])
    standin.set_as_user(f"{EQ}/Settings/OPC-UA endpoint", "http://plc")
    standin.set_as_user(f"{EQ}/Settings/OPC-UA timeout", -1.0)
    standin.set_as_user(f"{EQ}/Settings/Driver", "modbus")
    standin.run_frontend(fe, 2)
    settings = client.odb_get(f"{EQ}/Settings")
    assert settings["Names"] == list(GAS_NAMES)
    assert settings["OPC-UA endpoint"] == "opc.tcp://localhost:4840"
    assert settings["OPC-UA timeout"] == 5.0
    assert settings["Driver"] == "sim"
    assert len(standin.error_messages()) == 4


# ---------------------------------------------------------------- OPC-UA


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PlcServer:
    """An asyncua server in its own thread, publishing a few gas-system variables."""

    VALUES: ClassVar[dict[str, float]] = {
        "STS_Flow_FCT101_VALU": 3.01, "STS_Press_PT401_VALU": 0.91, "Logic_Press": 1}

    def __init__(self, port: int) -> None:
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/cygno/plc/"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = None
        self.namespace = 2

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        self.namespace = await server.register_namespace("urn:cygno:test:plc")
        for name, value in self.VALUES.items():
            node_id = ua.NodeId(name, self.namespace)
            await server.nodes.objects.add_variable(node_id, name, value)
        await server.start()
        self.server = server

    def start(self) -> None:
        self._run(self._start())

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.stop())
            self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture()
def plc():
    pytest.importorskip("asyncua")
    server = PlcServer(free_port())
    server.start()
    yield server
    server.close()


def opcua_settings(plc: PlcServer, names) -> dict:
    return {
        "Driver": "opcua",
        "Names": list(names),
        "OPC-UA endpoint": plc.endpoint,
        "OPC-UA node ids": [f"ns={plc.namespace};s={n}" for n in names],
        "OPC-UA timeout": 2.0,
        "Retry period": 0.0,
    }


def test_opcua_driver_reads_the_plc_and_recovers_after_loss(client, plc):
    names = ["STS_Flow_FCT101_VALU", "STS_Press_PT401_VALU", "Logic_Press", "Not_There"]
    preset(client, **opcua_settings(plc, names))
    fe = SlowControlFrontend(0)
    client.odb_set(f"{EQ}/Common/Period", 100)
    events = run_and_collect(client, fe, 30)
    assert events, "no slow-control event"
    measured = client.odb_get(f"{EQ}/Variables/Measured")
    assert measured[:3] == pytest.approx([3.01, 0.91, 1.0], rel=1e-6)
    assert math.isnan(measured[3])
    assert any("Not_There" in m and "BadNodeIdUnknown" in m for m in standin.error_messages())
    assert client.odb_get(f"{EQ}/Common/Status color") == "greenLight"

    plc.stop()
    run_and_collect(client, fe, 30)
    assert client.odb_get(f"{EQ}/Common/Status color") == "redLight"
    lost = [m for m in standin.error_messages() if "slow-control device" in m]
    assert len(lost) == 1, lost
    assert client.get_triggered_alarms()

    plc.start()
    events = run_and_collect(client, fe, 30)
    assert events, "no event after the PLC came back"
    assert client.odb_get(f"{EQ}/Common/Status color") == "greenLight"
    assert client.get_triggered_alarms() == {}
    assert any("slow-control device is back" in m.text for m in standin.messages())
    fe.close()


def test_opcua_unreachable_at_start_keeps_the_frontend_up(client):
    pytest.importorskip("asyncua")
    preset(client, **{"Driver": "opcua", "OPC-UA endpoint": f"opc.tcp://127.0.0.1:{free_port()}",
                      "OPC-UA timeout": 1.0})
    fe = SlowControlFrontend(0)
    assert fe.slow_control.driver is None
    assert client.odb_get(f"{EQ}/Common/Status color") == "redLight"
    assert any("cannot connect" in m for m in standin.error_messages())
    fe.close()
