"""What the tests against the live MIDAS experiment share (marked `midas`; the experiment is
the session's private one from midas_experiment.py, driven through its `Crew` client)."""

from __future__ import annotations

import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

LIVE_MIDAS = [pytest.mark.midas]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `condition` until it is truthy and return it; the deadline only stops a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def idle_client(experiment: Any) -> Any:
    """The experiment's crew client, with no run in progress (a run left over is stopped)."""
    crew = experiment.crew
    if crew.odb_get("/Runinfo/State") != 1:
        crew.stop_run()
    return crew


def connected(client: Any, client_name: str) -> bool:
    clients = client.odb_get("/System/Clients")
    return any(entry.get("Name") == client_name for entry in clients.values())


def start_program(experiment: Any, program_args: list[str], client_name: str,
                  timeout: float = 30.0) -> subprocess.Popen:
    """`cygno-mw ARGS...` (e.g. `frontend camera -i 0`) as MIDAS would start it from
    /Programs, once it shows in /System/Clients."""
    from cygno_mw.odb_install import cygno_mw_command

    process = experiment.spawn([*shlex.split(cygno_mw_command()), *program_args],
                               client_name.replace(" ", "_"))
    wait_for(lambda: connected(experiment.crew, client_name) or process.poll() is not None,
             timeout, what=f"{client_name} to connect")
    assert process.poll() is None, f"{client_name} exited with status {process.returncode}"
    return process


def stop_program(process: subprocess.Popen, signal_number: int = signal.SIGTERM,
                 timeout: float = 30.0) -> int:
    """Signal the program, then kill it if it has not exited after `timeout`; its status."""
    if process.poll() is None:
        process.send_signal(signal_number)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def exit_status(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """The program's exit status once it ends by itself (killed after `timeout`: -9)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9
