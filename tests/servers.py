"""Real servers for tests and benches: MariaDB, moto's S3 server, victoria-metrics, InfluxDB 1.6.

Each server runs as a child process in a private temporary folder, bound to 127.0.0.1 on a
free port, and is polled until it answers (never sleep-and-hope). The classes know nothing of
cygno-mw, so `bench/sql.py` imports this module too (it puts `tests/` on `sys.path`).

The pytest fixtures at the bottom are session-scoped: one server of each kind per test run,
started on first use. Fault tests stop and restart a server through `.kill()` / `.stop()` /
`.start()`; the port and data folder stay the same, so clients reconnect to the same URL.

A missing server binary skips the tests that need it, except in CI (env `CI` set) where it is
a failure: CI installs the servers with `.ci/services`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not become ready."""


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 60.0,
               process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll `ready()` until it is true; fail early when `process` exits, late after `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise ServerUnavailable(f"{what} exited with status {process.returncode}"
                                    + _log_tail(log))
        if time.monotonic() > deadline:
            raise ServerUnavailable(f"{what} not ready after {timeout:.0f} s" + _log_tail(log))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _log_tail(log: Path | None, chars: int = 2000) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- server log (tail) ---\n" + log.read_text(errors="replace")[-chars:]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:
            return 200 <= reply.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def find_binary(*names: str) -> str | None:
    """The first of `names` on PATH (also /usr/sbin, where Debian puts mariadbd)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


class ManagedServer:
    """A server process in a private folder that can be stopped and started again."""

    name = "server"

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"cygno-{self.name}-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / f"{self.name}.log"

    # -- to be provided by subclasses -------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time set-up before the first start (e.g. initialise a data folder)."""

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the process (if not running) and wait until it answers."""
        if self.running:
            return
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
            )
        wait_until(self.is_ready, f"{self.name} on port {self.port}", timeout, self.process,
                   self.log)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it lingers; waits for the exit."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Abrupt stop (SIGKILL): the server vanishes mid-conversation, as in a crash."""
        self._signal(signal.SIGKILL, 30.0)

    def _signal(self, sig: int, timeout: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # A port in TIME_WAIT is fine for a restart; wait only until no one listens.
        wait_until(lambda: not _port_open(self.port), f"{self.name} port release", 30.0)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """`with server.down():` — stopped inside the block, running again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ManagedServer:
        self.prepare()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MariaDBServer(ManagedServer):
    """Debian's mariadbd with its own data folder, socket and port; root has no password."""

    name = "mariadb"

    def __init__(self, workdir: Path | None = None) -> None:
        self.mariadbd = find_binary("mariadbd", "mysqld")
        self.install_db = find_binary("mariadb-install-db", "mysql_install_db")
        if not self.mariadbd or not self.install_db:
            raise ServerUnavailable(
                "MariaDB server not installed (need mariadbd and mariadb-install-db; "
                "Debian package mariadb-server, installed by .ci/services)")
        super().__init__(workdir)
        self.datadir = self.workdir / "data"
        self.socket = self.workdir / "sock"
        self.user = getpass.getuser()

    def prepare(self) -> None:
        if (self.datadir / "mysql").is_dir():
            return
        with open(self.log, "ab") as log:
            subprocess.run(
                [self.install_db, "--no-defaults", f"--user={self.user}",
                 f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
                 "--skip-test-db"],
                stdout=log, stderr=subprocess.STDOUT, check=True, cwd=self.workdir,
            )

    def command(self) -> list[str]:
        return [
            self.mariadbd, "--no-defaults", f"--user={self.user}", f"--datadir={self.datadir}",
            f"--socket={self.socket}", f"--port={self.port}", f"--bind-address={LOOPBACK}",
            f"--pid-file={self.workdir / 'pid'}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M", "--max-allowed-packet=64M",
        ]

    def is_ready(self) -> bool:
        return self.socket.exists() and _port_open(self.port)

    def url(self, database: str = "", user: str = "root", password: str | None = None) -> str:
        """SQLAlchemy URL over TCP (the path a remote client takes)."""
        auth = user if password is None else f"{user}:{password}"
        return f"mysql+mysqlconnector://{auth}@{LOOPBACK}:{self.port}/{database}"

    def sql(self, statement: str) -> str:
        """Run SQL as root through the server's own client, over the private socket."""
        client = find_binary("mariadb", "mysql")
        if client is None:
            raise ServerUnavailable("mariadb client not installed")
        done = subprocess.run(
            [client, "--no-defaults", "-S", str(self.socket), "-uroot", "-N", "-B",
             "-e", statement],
            capture_output=True, text=True, timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb client failed: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database with a unique name; returns the name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE `{name}`")
        return name


class MotoS3Server(ManagedServer):
    """moto's standalone server as a separate process (so it can be killed); state in memory."""

    name = "moto-s3"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]

    def is_ready(self) -> bool:
        return _http_ok(f"{self.endpoint_url}/moto-api/")

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


class VictoriaMetricsServer(ManagedServer):
    """victoria-metrics: accepts the InfluxDB v2 write API, exports series as JSON lines."""

    name = "victoria-metrics"

    def __init__(self, workdir: Path | None = None) -> None:
        self.binary = find_binary("victoria-metrics")
        if not self.binary:
            raise ServerUnavailable(
                "victoria-metrics not installed (Debian package victoria-metrics, "
                "installed by .ci/services)")
        super().__init__(workdir)

    def command(self) -> list[str]:
        return [self.binary, f"-storageDataPath={self.workdir / 'data'}",
                f"-httpListenAddr={LOOPBACK}:{self.port}", "-loggerLevel=WARN",
                "-retentionPeriod=100y"]

    def is_ready(self) -> bool:
        return _http_ok(f"{self.url}/health")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def export(self, match: str) -> list[dict]:
        """Series matching a PromQL series selector, e.g. '{__name__=~"cygno_reco_.*"}'."""
        import json
        import urllib.parse

        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).close()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as reply:
            text = reply.read().decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class InfluxQLServer(ManagedServer):
    """Debian's InfluxDB 1.6 (`influxd`): answers InfluxQL, as Grafana's InfluxDB source asks.

    It predates the v2 write API (`/api/v2/write` came with 1.8), so `v2_write_url()` starts a
    small bridge in this process that does what 1.8's compatibility endpoint does: the body of
    `POST /api/v2/write?bucket=B&precision=P` (line protocol) goes unchanged to
    `POST /write?db=B&precision=P`, and the answer comes back. Our InfluxSink talks to it
    exactly as to an InfluxDB 2.x, 1.8+ or 3.x server."""

    name = "influxdb"

    def __init__(self, workdir: Path | None = None) -> None:
        self.binary = find_binary("influxd")
        if not self.binary:
            raise ServerUnavailable(
                "InfluxDB 1.x not installed (Debian package influxdb, installed by .ci/services)")
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.config = self.workdir / "influxdb.conf"
        self._bridge: Any = None

    def prepare(self) -> None:
        """A config of our own: every folder in the workdir, both ports on loopback."""
        self.config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "{LOOPBACK}:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.workdir / "meta"}"\n'
            f'[data]\n  dir = "{self.workdir / "data"}"\n  wal-dir = "{self.workdir / "wal"}"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "{LOOPBACK}:{self.port}"\n  log-enabled = false\n'
            "[continuous_queries]\n  enabled = false\n")

    def command(self) -> list[str]:
        return [self.binary, "-config", str(self.config)]

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1.0) as reply:
                return reply.status == 204
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def query(self, text: str, database: str = "", epoch: str = "ms") -> list[dict]:
        """InfluxQL through `POST /query`; the `results` list (one entry per statement)."""
        import json
        import urllib.parse

        form = urllib.parse.urlencode({"q": text, "db": database, "epoch": epoch}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=form, timeout=30) as reply:
            return json.loads(reply.read())["results"]

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database with a unique name; returns the name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.query(f'CREATE DATABASE "{name}"')
        return name

    def v2_write_url(self) -> str:
        """URL of a bridge that takes the v2 write API (bucket = database), started once."""
        if self._bridge is None:
            self._bridge = _V2WriteBridge(self.url)
        return self._bridge.url

    def close(self) -> None:
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None
        super().close()


class _V2WriteBridge:
    """`POST /api/v2/write?bucket=&precision=` -> InfluxDB 1.x `POST /write?db=&precision=`."""

    def __init__(self, target: str) -> None:
        import http.server
        import urllib.parse

        precisions = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}  # v2 name -> 1.x name

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                args = urllib.parse.parse_qs(url.query)
                if url.path != "/api/v2/write" or "bucket" not in args:
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                query = {"db": args["bucket"][0]}
                precision = args.get("precision", ["ns"])[0]
                query["precision"] = precisions.get(precision, precision)
                forward = urllib.request.Request(
                    f"{target}/write?{urllib.parse.urlencode(query)}", data=body,
                    method="POST")
                try:
                    with urllib.request.urlopen(forward, timeout=30) as reply:
                        status, answer = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, answer = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                """Quiet: the test output is for the tests."""

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="influx-v2-bridge")
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- pytest fixtures ------------------------------------------------------------------------

def _start_or_skip(factory: Callable[[], ManagedServer]) -> ManagedServer:
    try:
        server = factory()
        server.prepare()
        server.start()
    except ServerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set: the servers must be installed)")
        pytest.skip(str(exc))
    return server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """One private MariaDB for the session; `.kill()/.stop()/.start()` for fault tests."""
    server = _start_or_skip(MariaDBServer)
    yield server  # type: ignore[misc]
    server.close()


@pytest.fixture
def mariadb_url(mariadb_server: MariaDBServer) -> str:
    """URL of a fresh empty database on the session's MariaDB (running again if a test
    stopped it)."""
    mariadb_server.start()
    return mariadb_server.url(mariadb_server.create_database())


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    """moto's S3 server for the session, in its own process (so it can be stopped)."""
    server = _start_or_skip(MotoS3Server)
    yield server  # type: ignore[misc]
    server.close()


AWS_TEST_SECRET = "cygno-test-secret"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials for moto in the environment, and none of the machine's own
    (profile, session token, endpoint) to leak in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "cygno-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_TEST_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def influx_server() -> Iterator[VictoriaMetricsServer]:
    """victoria-metrics answering the InfluxDB v2 write API for the session."""
    server = _start_or_skip(VictoriaMetricsServer)
    yield server  # type: ignore[misc]
    server.close()


@pytest.fixture(scope="session")
def influxql_server() -> Iterator[InfluxQLServer]:
    """InfluxDB 1.6 answering InfluxQL (dashboards' queries) for the session."""
    server = _start_or_skip(InfluxQLServer)
    yield server  # type: ignore[misc]
    server.close()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite file and on a fresh MariaDB database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cygno.sqlite'}"
    return request.getfixturevalue("mariadb_url")


class TcpProxy:
    """S3 as the uploader sees it: a loopback port forwarded to moto's server. Stopping the
    proxy makes S3 unreachable (connections refused, open ones cut) while moto keeps what it
    stored, as a real S3 would across a network outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.connections = []
