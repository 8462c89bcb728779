"""What the tests against a live MIDAS experiment share (marked `midas`; they run when
MIDASSYS is set and MIDAS's real `midas` package is importable, never on the stand-in)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

LIVE_MIDAS = [
    pytest.mark.midas,
    pytest.mark.skipif(not os.environ.get("MIDASSYS"), reason="MIDASSYS is not set"),
    pytest.mark.skipif(importlib.util.find_spec("midas") is None
                       or importlib.util.find_spec("midas.standin") is not None,
                       reason="needs MIDAS's real Python package ($MIDASSYS/python)"),
]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `condition` until it is truthy and return it; the deadline only stops a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def idle_client(name: str) -> Any:
    """A client of the live experiment; skips the test while a run is in progress there."""
    import midas.client

    client = midas.client.MidasClient(name)
    if client.odb_get("/Runinfo/State") != 1:
        client.disconnect()
        pytest.skip("a run is in progress in this experiment")
    return client


def start_program(client: Any, program_args: list[str], client_name: str,
                  timeout: float = 30.0) -> subprocess.Popen:
    """`cygno-mw ARGS...` (e.g. `frontend camera -i 0`) as MIDAS would start it from
    /Programs, once it shows in /System/Clients."""
    from cygno_mw.odb_install import cygno_mw_command

    process = subprocess.Popen([*shlex.split(cygno_mw_command()), *program_args])

    def connected() -> bool:
        clients = client.odb_get("/System/Clients")
        return any(entry.get("Name") == client_name for entry in clients.values())

    wait_for(connected, timeout, what=f"{client_name} to connect")
    return process


def stop_program(process: subprocess.Popen, signal_number: int = signal.SIGTERM,
                 timeout: float = 30.0) -> None:
    """Signal the program, then kill it if it has not exited after `timeout`."""
    process.send_signal(signal_number)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
