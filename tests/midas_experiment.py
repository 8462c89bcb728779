"""A private live MIDAS experiment for the tests marked `midas` (a pytest plugin).

Once per test session, on the real MIDAS build (midas_bundle.py: the one $MIDASSYS names,
else the tarball in ../shared/midas unpacked into the cache): a fresh experiment folder is
made (`MIDAS_DIR`, `odbinit`), mhttpd started on a free loopback port
(chosen through `/WebServer` before it starts) and mlogger writing lz4 files into
`<experiment>/data`.  At the end every process that joined the experiment (the ones started
here and the ones MIDAS started from `/Programs`) is stopped by its PID and the folder deleted.

The pytest process keeps the MIDAS stand-in for the unit tests, so the tests talk to the live
experiment through `Crew`, a real MIDAS client in a process of its own (midas_crew.py), and
through mhttpd's JSON-RPC, as the status page does.  Where there is no MIDAS build the
`midas` tests skip with a message saying where it was looked for; where there is one, a
skipped `midas` test fails the run (see `pytest_sessionfinish`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_midas import wait_for
from midas_bundle import find_midassys, midas_source, missing_reason

HERE = Path(__file__).resolve().parent
CREW_NAME = "cygno-mw test crew"
_MIDAS_ENV = ("MIDAS_DIR", "MIDAS_EXPTAB", "MIDAS_EXPT_NAME", "MIDAS_SERVER_HOST", "MIDASSYS")


class CrewError(RuntimeError):
    """An exception raised in the crew's process (its type name and text)."""


class Crew:
    """A client of the live experiment (real `midas.client.MidasClient`) in a child process;
    any MidasClient method is called by name and its result comes back as JSON."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str = CREW_NAME) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "midas_crew.py"), name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self._answer()

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise CrewError(f"the crew's process ended (status {self.process.poll()})")
            if line.startswith("@crew@"):
                answer = json.loads(line[len("@crew@"):])
                break
        if "e" in answer:
            kind, text = answer["e"]
            if kind == "KeyError":
                raise KeyError(text)
            raise CrewError(f"{kind}: {text}")
        return answer["r"]

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"m": method, "a": args, "k": kwargs}) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)

    def collect(self, buffer: str, event_id: int, seconds: float,
                start_stop: bool = True) -> list[bytes]:
        """Packed events `event_id` from `buffer` during a run of `seconds`."""
        return [base64.b64decode(e) for e in
                self.call("collect_packed", buffer, event_id, seconds, start_stop)]

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"m": "quit"}) + "\n")
                self.process.stdin.flush()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class MidasExperiment:
    """The live experiment of this test session."""

    def __init__(self, midassys: Path, directory: Path) -> None:
        self.midassys = midassys
        self.directory = directory
        self.data_dir = directory / "data"
        self.mhttpd_home = directory / "mhttpd-home"
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in _MIDAS_ENV}
        self.env.update(MIDASSYS=str(midassys), MIDAS_DIR=str(directory))
        self.env["PATH"] = f"{midassys / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"
        # the programs run on this build's own Python package, whatever the venv holds
        python_path = [str(midassys / "python"), self.env.get("PYTHONPATH", "")]
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in python_path if p)
        self.processes: list[subprocess.Popen] = []
        self.crew: Crew | None = None

    # -- processes --------------------------------------------------------------------------
    def bin(self, name: str) -> str:
        return str(self.midassys / "bin" / name)

    def spawn(self, argv: list[str], log_name: str,
              cwd: Path | None = None) -> subprocess.Popen:
        """A process of the experiment, its output in `<experiment>/<log_name>.log`."""
        log = open(self.directory / f"{log_name}.log", "ab")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen(argv, cwd=cwd or self.directory, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def odbedit(self, command: str) -> str:
        result = subprocess.run([self.bin("odbedit"), "-c", command], cwd=self.directory,
                                env=self.env, capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def client_pids(self) -> dict[str, int]:
        """Client name → process id, from /System/Clients (keyed by process id)."""
        clients = self.jsonrpc("db_get_values", {"paths": ["/System/Clients"]})["data"][0]
        return {entry["name"]: int(pid) for pid, entry in (clients or {}).items()
                if isinstance(entry, dict) and "name" in entry}

    # -- mhttpd ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def jsonrpc(self, method: str, params: Any = None, timeout: float = 60.0) -> Any:
        """One JSON-RPC call to mhttpd, as the status page makes it; returns its `result`."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params or {},
                           "id": 1}).encode()
        request = urllib.request.Request(f"{self.url}/?mjsonrpc", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            reply = json.loads(answer.read())
        if reply.get("error"):
            raise CrewError(f"{method}: {reply['error']}")
        return reply["result"]

    # -- life cycle ------------------------------------------------------------------------
    def start(self, before_daemons: Callable[[MidasExperiment], None] | None = None) -> None:
        """odbinit, the crew, `before_daemons(self)` (e.g. `cygno-mw odb install`), then
        mhttpd (in a folder of its own, `mhttpd-home`: the programs it starts run there) and
        mlogger."""
        self.data_dir.mkdir()
        self.mhttpd_home.mkdir()
        result = subprocess.run([self.bin("odbinit"), "-s", "32MB"], cwd=self.directory,
                                env=self.env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"odbinit failed: {result.stdout}{result.stderr}")
        self.crew = Crew(self.env, self.directory)
        self.crew.odb_set("/WebServer", {
            "Enable localhost port": True, "localhost port": self.port,
            "Enable insecure port": False, "Enable https port": False, "Enable IPv6": False},
            remove_unspecified_keys=False)
        if before_daemons is not None:
            before_daemons(self)
        self.start_daemons()

    def start_daemons(self) -> None:
        assert self.crew is not None
        # MIDAS takes a client's watchdog timeout from /Programs/<name> when it connects; the
        # default 10 s lets a client declare mhttpd dead while a loaded 2-core machine has
        # not scheduled it (seen in the full suite), so the daemons get a minute
        for name in ("mhttpd", "Logger"):
            self.crew.odb_set(f"/Programs/{name}/Watchdog timeout", 60000)
        self.spawn([self.bin("mhttpd")], "mhttpd", cwd=self.mhttpd_home)
        wait_for(lambda: self._mhttpd_answers(), 60, "mhttpd to answer JSON-RPC")
        self.spawn([self.bin("mlogger")], "mlogger")
        wait_for(lambda: self.crew.odb_exists("/Logger/Channels/0/Settings"), 60,
              "mlogger to create /Logger")
        self.crew.odb_set("/Logger", {"Data dir": str(self.data_dir), "Write data": True},
                          remove_unspecified_keys=False)
        self.crew.odb_set("/Logger/Channels/0/Settings/Compress", "lz4")
        # MIDAS's newer per-variable FILE history instead of the old .hst files, whose
        # reader logged end-of-file errors at begin of run and once refused a run start
        self.crew.odb_set("/Logger/History/MIDAS/Active", False)
        self.crew.odb_set("/Logger/History/FILE/Active", True)

    def _mhttpd_answers(self) -> bool:
        try:
            self.jsonrpc("db_get_values", {"paths": ["/Experiment/Name"]}, timeout=5)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop every process of the experiment by its PID, then delete the folder."""
        pids: dict[str, int] = {}
        with contextlib.suppress(Exception):
            pids = self.client_pids()
        if self.crew is not None:
            self.crew.close()
        own = {p.pid for p in self.processes}
        for name, pid in pids.items():
            if pid not in own and pid != os.getpid():
                _stop_pid(pid, name)
        # programs MIDAS started for us (mhttpd's start_program, -D daemons) that left
        # /System/Clients, e.g. after a failed test: found by their MIDAS_DIR
        for pid in _pids_in_experiment(self.directory) - own - {os.getpid()}:
            _stop_pid(pid, f"pid {pid}")
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        _remove_shared_memory(self.directory)
        if os.environ.get("CYGNO_KEEP_MIDAS_DIR"):  # for a look at the programs' logs
            print(f"MIDAS experiment kept in {self.directory}")
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


def _remove_shared_memory(directory: Path) -> None:
    """Delete the experiment's ODB and buffers from /dev/shm.  MIDAS removes them when its
    last client leaves cleanly; after a killed program they would stay (32 MB of ODB and
    the buffers' size, per experiment) and fill /dev/shm over many test sessions.  MIDAS
    names them `<n>_<expt>_<NAME>_<MIDAS_DIR with '/' as '_'>`."""
    tag = str(directory).rstrip("/").replace("/", "_") + "_"
    for entry in Path("/dev/shm").glob(f"*{tag}"):
        with contextlib.suppress(OSError):
            entry.unlink()


def _pids_in_experiment(directory: Path) -> set[int]:
    """Processes whose environment says MIDAS_DIR=`directory` (Linux /proc)."""
    wanted = f"MIDAS_DIR={directory}".encode()
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
    return found


def _stop_pid(pid: int, name: str) -> None:
    """SIGTERM, then SIGKILL after 15 s, for a process that is not our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def midas_missing_reason() -> str | None:
    """Why the live-MIDAS tests cannot run here, or None when they can."""
    return missing_reason() if midas_source() is None else None


def pytest_report_header() -> str:
    return f"MIDAS: {midas_source() or missing_reason()}"


@contextlib.contextmanager
def live_experiment(
        before_daemons: Callable[[MidasExperiment], None] | None = None,
) -> Iterator[MidasExperiment]:
    """A fresh private experiment, stopped and deleted at the end (skips without MIDAS)."""
    reason = midas_missing_reason()
    if reason:
        pytest.skip(reason)
    midassys = find_midassys()
    assert midassys is not None
    experiment = MidasExperiment(midassys, Path(tempfile.mkdtemp(prefix="cygno-midas-")))
    try:
        experiment.start(before_daemons)
        yield experiment
    finally:
        experiment.stop()


@pytest.fixture(scope="session")
def midas_experiment() -> Iterator[MidasExperiment]:
    with live_experiment() as experiment:
        yield experiment


# -- a skipped `midas` test fails the run where MIDAS is there ------------------------------
_skipped_midas: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("midas") is not None \
            and not _skipped_for_chromium(item):
        _skipped_midas.append(item.nodeid)


def _skipped_for_chromium(item: pytest.Item) -> bool:
    """A test that also needs Chromium skips for want of it (browser.py), not of MIDAS."""
    from browser import chromium_missing_reason

    return item.get_closest_marker("chromium") is not None \
        and chromium_missing_reason() is not None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped_midas and midas_missing_reason() is None:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped_midas)} test(s) marked midas skipped although the MIDAS "
            f"build is there ({midas_source()}):", red=True)
        for nodeid in _skipped_midas:
            terminalreporter.write_line(f"  {nodeid}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_midas and midas_missing_reason() is None and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
