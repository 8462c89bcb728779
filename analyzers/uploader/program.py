"""The uploader: a MIDAS client that takes every event of the SYSTEM buffer to S3, in chunks.

    cygno-mw analyzer uploader [-h HOST] [-e EXPT] [--name NAME] [-D | -O]

Started and stopped from the status page through `/Programs/Uploader`. It reads the buffer
with GET_ALL (the DAQ waits for it rather than lose an event to it) and does no analysis:
the events go, byte for byte, into chunk files (chunker.py), the chunk files into the spool
(spool.py), and a second thread moves them to S3 and into the `chunks` table (shipper.py).
When S3 or the database is unreachable the chunks wait in the spool and are sent in order
when they return; when the spool is full (`Spool limit MB`) the uploader stops reading and
the DAQ waits; at `Spool alarm percent` a MIDAS alarm rings. A full disk does the same
(disk_guard.py): the alarm rings, the DAQ waits, shipping drains the spool, and what failed
is done again once there is room. Killed at any moment and
restarted, it first closes the chunk it was writing from its journal, then ships what the
spool holds; S3 is asked before each upload whether it holds the same bytes already.

ODB (odb_templates/equipment_uploader.json): `/Equipment/Uploader/Settings` (read at start;
credentials never: S3 keys come from the environment or ~/.aws, a database password from
$CYGNO_DB_PASSWORD), `/Equipment/Uploader/Statistics`, and `Common/Status` with its colour
on the status page.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.midas_client import communicate_until_stopped

from .chunker import Chunker
from .disk_guard import DiskFullGuard
from .runfiles import RunFileShipper
from .shipper import Shipper
from .spool import ChunkSpool

log = logging.getLogger(__name__)

CLIENT_NAME = "Uploader"
EQUIPMENT = "/Equipment/Uploader"
SETTINGS_PATH = f"{EQUIPMENT}/Settings"
STATISTICS_PATH = f"{EQUIPMENT}/Statistics"
COMMON_PATH = f"{EQUIPMENT}/Common"
START_SEQUENCE = 300  # before the frontends (500) send the run's first event
STOP_SEQUENCE = 700  # after the frontends (500) sent its last one
SPOOL_ALARM = "Uploader spool full"
MIB = 1 << 20
DEFAULT_SETTINGS: dict[str, Any] = {
    "Buffer": "SYSTEM",
    "Spool dir": "uploader-spool",  # relative: in the experiment directory
    "Chunk max MB": 256.0,
    "Chunk max s": 60.0,
    "Spool limit MB": 20480.0,
    "Spool alarm percent": 80.0,
    "S3 endpoint URL": "",
    "S3 bucket": "",
    "S3 prefix": "cygno",
    "Database URL": "",  # empty: $CYGNO_DB_URL, else the analyzer's Output/database_url
    "Retry s": 5.0,
    "Statistics interval s": 2.0,
    "Transition timeout s": 10.0,
    "Alarm class": "Alarm",
    "Upload run files": True,  # mlogger's closed run files too (from /Logger/Data dir)
    "Run file min age s": 2.0,  # unchanged for this long after its run ended
}
GREEN, YELLOW, RED = "greenLight", "yellowLight", "redLight"


@dataclass
class Counters:
    """What the two threads count (ints and floats only: safe to read across threads)."""

    events: int = 0
    event_bytes: int = 0
    chunks_closed: int = 0
    chunks_uploaded: int = 0
    chunks_found_stored: int = 0
    uploaded_bytes: int = 0
    run_files_uploaded: int = 0
    waiting_for: str = ""
    last_error: str = ""
    rate_points: list[tuple[float, int, int, int]] = field(default_factory=list)


class ShipperThread(threading.Thread):
    """Ships the spool's chunks in order; waits `retry_s` after S3 or SQL was unreachable."""

    def __init__(self, shipper: Shipper, counters: Counters, retry_s: float,
                 run_files: RunFileShipper | None = None,
                 open_run: Callable[[], int | None] = lambda: None) -> None:
        super().__init__(name="uploader-shipper", daemon=True)
        self.shipper = shipper
        self.run_files = run_files
        self.open_run = open_run
        self.notes: list[str] = []  # messages for the MIDAS thread
        self.counters = counters
        self.retry_s = retry_s
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.fatal: str = ""

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                result = self.shipper.ship_one()
            except Exception as exc:  # a conflict in SQL: say it, keep the chunk, stop here
                self.fatal = str(exc)
                self.counters.last_error = str(exc)
                return
            if result.shipped is not None:
                self.counters.waiting_for = ""
                self.counters.chunks_uploaded += 1
                self.counters.uploaded_bytes += result.shipped.bytes
                if not result.uploaded:
                    self.counters.chunks_found_stored += 1
                continue
            if not result.waiting_for and self.run_files is not None:
                state = self._run_file()
                if state == "done":
                    continue
                if state == "wait":
                    self.wake.wait(self.retry_s)
                    self.wake.clear()
                    continue
            if result.waiting_for:
                if not self.counters.waiting_for:
                    log.warning("uploader waits for %s: %s", result.waiting_for, result.error)
                self.counters.waiting_for = result.waiting_for
                self.counters.last_error = result.error
                self.wake.wait(self.retry_s)
            else:
                self.wake.wait(0.5)
            self.wake.clear()

    def _run_file(self) -> str:
        """One closed run file of mlogger's (chunks go first): "done", "none" (nothing to
        do) or "wait" (S3 or the database unreachable: try again after `retry_s`)."""
        assert self.run_files is not None
        results = self.run_files.ship(self.open_run())
        state = "none"
        for result in results:
            if result.run in self.run_files.refused:
                self.notes.append(result.error)  # reported once: the run is left alone
            elif result.error:
                log.warning("run file %s waits: %s", result.name, result.error)
                state = "wait"
            else:
                self.counters.run_files_uploaded += 1
                state = "done"
        return state

    def stop(self, drain_s: float = 30.0) -> None:
        """Give the spool `drain_s` to empty (when S3 and SQL answer), then stop."""
        deadline = time.monotonic() + drain_s
        while (self.is_alive() and self.shipper.spool.pending()
               and not self.counters.waiting_for and time.monotonic() < deadline):
            self.wake.set()
            time.sleep(0.05)
        self.stopping.set()
        self.wake.set()
        self.join(timeout=60)


class RawBufferSource:
    """Every event of one buffer (GET_ALL), as raw bytes: nothing is decoded or copied twice."""

    def __init__(self, client: Any, buffer_name: str) -> None:
        import midas

        self.client = client
        self.handle = client.open_event_buffer(buffer_name)
        self.request_id = client.register_event_request(self.handle, event_id=-1,
                                                        trigger_mask=-1,
                                                        sampling_type=midas.GET_ALL)
        self._buffer = client.event_buffers[self.handle]

    def receive(self) -> memoryview | None:
        """The next event (header + data), or None when none waits."""
        import midas

        size = ctypes.c_int(ctypes.sizeof(self._buffer))
        try:
            self.client.lib.c_bm_receive_event(self.handle, ctypes.byref(self._buffer),
                                               ctypes.byref(size), ctypes.c_int(1))
        except midas.MidasError as exc:
            if exc.code == midas.status_codes["BM_ASYNC_RETURN"]:
                return None
            raise
        return memoryview(self._buffer)[:size.value]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deregister_event_request(self.handle, self.request_id)


class Uploader:
    """The MIDAS side (see the module docstring)."""

    def __init__(self, client: Any, *, name: str = CLIENT_NAME) -> None:
        self.client = client
        self.name = name
        self._register_transitions()
        self.settings = self._install_settings()
        base = experiment_dir(client)
        spool_dir = Path(str(self.settings["Spool dir"]))
        self.spool = ChunkSpool(spool_dir if spool_dir.is_absolute() else base / spool_dir,
                                int(float(self.settings["Spool limit MB"]) * MIB))
        self.chunker = Chunker(self.spool,
                               max_bytes=int(float(self.settings["Chunk max MB"]) * MIB),
                               max_age_s=float(self.settings["Chunk max s"]))
        self.counters = Counters()
        self.alarm_on = False
        self._disk_low = False  # too little free space for the next event: not taken
        self._disk_free = 0
        self._disk_reason = ""
        self._disk_said, self._disk_said_at = False, -1e9
        self.guard = DiskFullGuard(float(self.settings["Retry s"]), self._disk_full,
                                   self._disk_room)
        self.guard.run(self._recover)
        shipper = self._make_shipper()
        self.shipper = ShipperThread(shipper, self.counters, float(self.settings["Retry s"]),
                                     self._run_files(shipper), self._open_run)
        self.source = RawBufferSource(client, str(self.settings["Buffer"]))
        self.running = False
        self.spool_bytes = self.spool.size_bytes()
        self._spool_checked = 0.0
        self._measured_chunk: Any = None
        self._largest_event = 0
        self._next_statistics = 0.0
        self._last_waiting = ""
        self._closed = False
        self.shipper.start()
        client.odb_watch(SETTINGS_PATH, self._settings_changed)
        self._join_run_in_progress()

    # -- set-up ----------------------------------------------------------------------------
    def _register_transitions(self) -> None:
        import midas

        self.client.register_transition_callback(midas.TR_START, START_SEQUENCE,
                                                 self._on_start)
        self.client.register_transition_callback(midas.TR_STOP, STOP_SEQUENCE, self._on_stop)

    def _install_settings(self) -> dict[str, Any]:
        client = self.client
        client.odb_set(SETTINGS_PATH, DEFAULT_SETTINGS, remove_unspecified_keys=False,
                       update_structure_only=True)
        present = client.odb_get(COMMON_PATH) if client.odb_exists(COMMON_PATH) else {}
        if not isinstance(present, Mapping) or "Frontend name" not in present:
            client.odb_set(COMMON_PATH, _common(self.name), remove_unspecified_keys=False)
        client.odb_set(f"{COMMON_PATH}/Status", "Starting")  # until the first statistics
        client.odb_set(f"{COMMON_PATH}/Status color", YELLOW)
        values = client.odb_get(SETTINGS_PATH)
        settings = {**DEFAULT_SETTINGS, **{k: v for k, v in values.items()
                                           if not k.endswith("/key") and k in DEFAULT_SETTINGS}}
        settings["Database URL"] = self._checked_database_url(
            str(settings["Database URL"]), DEFAULT_SETTINGS["Database URL"])
        return settings

    def _checked_database_url(self, url: str, old: str) -> str:
        """`url`, or `old` put back in the ODB (with a MIDAS message) when it holds a password:
        secrets never live in the ODB, whose dump goes into every run's first chunk."""
        from cygno_mw.redact import redact

        if redact(url) == url:
            return url
        self.client.msg(f"{SETTINGS_PATH}/Database URL: must not contain a password; put it "
                        "in the environment variable CYGNO_DB_PASSWORD or a file named by "
                        f"CYGNO_DB_PASSWORD_FILE; keeping {old!r}", True)
        self.client.odb_set(f"{SETTINGS_PATH}/Database URL", old)
        return old

    def _settings_changed(self, client: Any, path: str, value: Any) -> None:
        """Watch callback: the settings apply at the next start, but a password written into
        `Database URL` is refused at once (before a run start dumps the ODB)."""
        if isinstance(value, Mapping) and "Database URL" in value:
            url = str(value["Database URL"])
            if url != self.settings["Database URL"]:
                self._checked_database_url(url, str(self.settings["Database URL"]))

    def _make_shipper(self) -> Shipper:
        from cygno_mw.analyzers.outputs import credentials, migrate
        from cygno_mw.analyzers.outputs.database import RetryPolicy, create_db_engine
        from cygno_mw.analyzers.outputs.s3_store import S3Store

        settings = self.settings
        if not str(settings["S3 bucket"]).strip():
            self.client.msg(f"{self.name}: {SETTINGS_PATH}/S3 bucket is empty; chunks stay "
                            "in the spool until it is set (and the uploader restarted)", True)
        store = S3Store(str(settings["S3 bucket"]).strip() or "unset",
                        prefix=str(settings["S3 prefix"]),
                        endpoint_url=str(settings["S3 endpoint URL"]).strip() or None,
                        retry=RetryPolicy(attempts=1, initial_delay=0.5))
        url = str(settings["Database URL"]).strip() or self._analyzer_database_url()
        engine = create_db_engine(credentials.resolve_url(url))
        try:
            migrate.upgrade(engine)
        except Exception as exc:  # unreachable now: the shipper's SQL step retries later
            self.client.msg(f"{self.name}: database {credentials.safe_url(url)} not ready "
                            f"({str(exc).splitlines()[0]}); chunks are spooled", True)
        return Shipper(self.spool, store, engine)

    def _run_files(self, shipper: Shipper) -> RunFileShipper | None:
        """mlogger's data folder, when run files are to be uploaded too."""
        path = "/Logger/Data dir"
        if not self.settings["Upload run files"] or not self.client.odb_exists(path):
            return None
        folder = Path(str(self.client.odb_get(path)) or ".")
        if not folder.is_absolute():
            folder = experiment_dir(self.client) / folder
        return RunFileShipper(shipper.store, shipper.engine, folder,
                              min_age_s=float(self.settings["Run file min age s"]))

    def _recover(self) -> None:
        recovered = self.chunker.recover()
        if recovered:
            lost = self.chunker.truncated_events
            self.client.msg(f"{self.name}: closed {len(recovered)} chunk(s) left open by the "
                            f"last stop ({sum(m.events for m in recovered)} events kept"
                            + (f", {lost} cut short and dropped)" if lost else ")"))

    def _disk_full(self, reason: str) -> None:
        """Said once an episode (and at most every 30 s, should the room come and go)."""
        self._disk_reason = reason
        now = time.monotonic()
        if not self._disk_said and now - self._disk_said_at > 30:
            self._disk_said, self._disk_said_at = True, now
            self.client.msg(f"{self.name}: spool disk full ({reason}): no event is taken (the "
                            "DAQ waits) until the spool drains to S3", True)

    def _disk_room(self) -> None:
        if self._disk_said and not (self.guard.full or self._disk_low):
            self._disk_said = False
            self.client.msg(f"{self.name}: spool disk has room again: taking events")

    def _open_run(self) -> int | None:
        """The run mlogger may still be writing (never uploaded while running)."""
        return self.chunker.run if self.running else None

    def _analyzer_database_url(self) -> str:
        from cygno_mw.analyzers.outputs.database import default_url

        env = os.environ.get("CYGNO_DB_URL")
        if env:
            return env
        path = "/Analyzer/Parameters/Output/database_url"
        if self.client.odb_exists(path):
            url = str(self.client.odb_get(path))
            if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
                url = f"sqlite:///{experiment_dir(self.client) / url[len('sqlite:///'):]}"
            return url
        return default_url()

    def _join_run_in_progress(self) -> None:
        import midas

        state = self.client.odb_get("/Runinfo/State")
        if state in (midas.STATE_RUNNING, midas.STATE_PAUSED):
            run = int(self.client.odb_get("/Runinfo/Run number"))
            self.client.msg(f"{self.name} started during run {run}: uploading from now on")
            self._begin(run)

    # -- transitions -----------------------------------------------------------------------
    def _on_start(self, client: Any, run_number: int) -> int:
        import midas

        self._drain(float(self.settings["Transition timeout s"]))  # the last run's stragglers
        self._begin(int(run_number))
        return midas.status_codes["SUCCESS"]

    def _begin(self, run: int) -> None:
        odb = self._odb_snapshot()
        self.guard.run(lambda: self._begin_chunks(run, odb))
        self.running = True

    def _begin_chunks(self, run: int, odb: dict[str, Any]) -> None:
        if self.chunker.current is not None:  # the last run's stragglers
            self.chunker.close_chunk()
            self.counters.chunks_closed += 1
        self.chunker.begin_run(run, odb)

    def _on_stop(self, client: Any, run_number: int) -> int:
        import midas

        if not self._drain(float(self.settings["Transition timeout s"])):
            client.msg(f"{self.name}: run {run_number} ended with events still arriving; "
                       "they go into the run's next chunk", True)
        eor = self._odb_snapshot(("/Runinfo",))
        self.guard.run(lambda: self._end_chunks(eor))
        self.running = False
        self.shipper.wake.set()
        return midas.status_codes["SUCCESS"]

    def _end_chunks(self, eor: dict[str, Any]) -> None:
        if self.chunker.end_run(eor) is not None:
            self.counters.chunks_closed += 1

    def _odb_snapshot(self, paths: tuple[str, ...] = ("/",)) -> dict[str, Any]:
        if paths == ("/",):
            return _plain(self.client.odb_get("/"))
        return {p.strip("/"): _plain(self.client.odb_get(p)) for p in paths}

    def _drain(self, seconds: float) -> bool:
        """Take what the buffer holds, for at most `seconds`; True when it ran empty. A full
        spool (or disk) is waited for, not overrun: the shipper may free room meanwhile."""
        deadline = time.monotonic() + seconds
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if (self.guard.full and not self.guard.retry()) or self._spool_full():
                idle_since = None
                time.sleep(0.05)
                continue
            if self._receive_one():
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since > 0.2:  # nothing for a moment: the buffer is empty
                return True
            time.sleep(0.005)
        return False

    # -- events ----------------------------------------------------------------------------
    def _receive_one(self) -> bool:
        """Take one event and journal it at once: whatever can wait (the run number from
        the ODB, between runs) is asked before the event leaves the buffer."""
        from cygno_mw.midasfile.event import EventHeader

        if self.guard.full:  # the disk is full: the events wait in the buffer
            return False
        run = self._run_number() if self.chunker.run is None else None
        data = self.source.receive()
        if data is None:
            return False
        if EventHeader.from_buffer(data).is_internal:
            return True
        before = self.chunker.current
        self.guard.run(lambda: self.chunker.add(data, run=run),
                       keep=lambda: _add_later(self.chunker, bytes(data), run))
        if before is not None and self.chunker.current is not before:
            self._chunk_closed()
        self.counters.events += 1
        self.counters.event_bytes += data.nbytes
        self.spool_bytes += data.nbytes
        self._disk_free -= data.nbytes
        self._largest_event = max(self._largest_event, data.nbytes)
        return True

    def _run_number(self) -> int:
        return int(self.client.odb_get("/Runinfo/Run number"))

    def _chunk_closed(self) -> None:
        self.counters.chunks_closed += 1
        self.shipper.wake.set()

    def _spool_full(self) -> bool:
        """The spool's files, the room the open chunk needs to close (its LZ4 file next to
        its journal and metadata) and the next event (in its journal and its LZ4 file: twice
        the largest seen) would pass the limit. Measured on disk when a chunk was opened or
        closed (or every 0.5 s: the shipper frees room), else counted per event, so the
        spool stays within its limit unless an event is larger than any before it. The same
        room must be free on the disk: an event is taken only when it can be journaled and
        its chunk closed (else the disk counts as full, as when a write meets ENOSPC)."""
        now = time.monotonic()
        chunk = self.chunker.current
        if now - self._spool_checked > 0.5 or chunk is not self._measured_chunk:
            self._spool_checked = now
            self._measured_chunk = chunk
            self.spool_bytes = self.spool.size_bytes()
            self._disk_free = shutil.disk_usage(self.spool.directory).free
        reserved = chunk.closing_room() if chunk is not None else 0
        reserved += 2 * self._largest_event
        low = self._disk_free < reserved
        if low != self._disk_low:
            self._disk_low = low
            if low:
                self._disk_full(f"{self._disk_free / MIB:.1f} MB free, "
                                f"{reserved / MIB:.1f} MB needed")
            else:
                self._disk_room()
        return low or self.spool_bytes + reserved > self.spool.limit_bytes

    def poll(self, max_events: int = 50) -> int:
        received = 0
        if self.guard.full and self.guard.retry():
            self.shipper.wake.set()
        while received < max_events and not self._spool_full() and self._receive_one():
            received += 1
        self.guard.run(self._tick)
        self.periodic()
        return received

    def _tick(self) -> None:
        if self.chunker.tick() is not None:
            self._chunk_closed()

    # -- statistics, status, alarm ---------------------------------------------------------
    def periodic(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_statistics:
            return
        self._next_statistics = now + float(self.settings["Statistics interval s"])
        counters = self.counters
        self.spool_bytes = self.spool.size_bytes()
        fill = self.spool_bytes / self.spool.limit_bytes if self.spool.limit_bytes else 0.0
        backlog = len(self.spool.pending())
        points = counters.rate_points
        points.append((now, counters.event_bytes, counters.uploaded_bytes, counters.events))
        while len(points) > 2 and now - points[0][0] > 30:
            points.pop(0)
        span = now - points[0][0]
        in_rate = (counters.event_bytes - points[0][1]) / span if span > 0 else 0.0
        out_rate = (counters.uploaded_bytes - points[0][2]) / span if span > 0 else 0.0
        event_rate = (counters.events - points[0][3]) / span if span > 0 else 0.0
        self.client.odb_set(STATISTICS_PATH, {
            "Events sent": float(counters.events),
            "Events per sec.": event_rate,
            "kBytes per sec.": in_rate / 1024,
            "Events": float(counters.events), "Bytes": float(counters.event_bytes),
            "Chunks closed": counters.chunks_closed,
            "Chunks uploaded": counters.chunks_uploaded,
            "Chunks found on S3": counters.chunks_found_stored,
            "Backlog chunks": backlog,
            "Spool MB": self.spool_bytes / MIB,
            "Spool percent": 100.0 * fill,
            "Upload MB per s": out_rate / MIB,
            "Waiting for": counters.waiting_for,
            "Run files uploaded": counters.run_files_uploaded,
        }, remove_unspecified_keys=False)
        while self.shipper.notes:
            self.client.msg(f"{self.name}: {self.shipper.notes.pop(0)}", True)
        self._status(fill, backlog)
        self._alarm(fill)
        if counters.waiting_for != self._last_waiting:
            if counters.waiting_for:
                self.client.msg(f"{self.name}: {counters.waiting_for} unreachable; chunks are "
                                f"kept in the spool ({counters.last_error[:200]})", True)
            else:
                self.client.msg(f"{self.name}: {self._last_waiting} back; spooled chunks sent")
            self._last_waiting = counters.waiting_for

    def _status(self, fill: float, backlog: int) -> None:
        counters = self.counters
        if self.shipper.fatal:
            text, colour = f"Stopped shipping: {self.shipper.fatal}"[:250], RED
        elif self.guard.full or self._disk_low:
            reason = self.guard.reason or self._disk_reason
            text, colour = f"Spool disk full: the DAQ waits ({reason})"[:250], RED
        elif self._spool_full():
            text, colour = "Spool full: the DAQ waits", RED
        elif counters.waiting_for:
            text, colour = (f"{counters.waiting_for} down: {backlog} chunks spooled "
                            f"({100 * fill:.0f}%)"), YELLOW
        else:
            text = f"Uploading run {self.chunker.run}" if self.running else "Idle"
            text += f", {backlog} chunks to send" if backlog else ""
            colour = GREEN
        self.client.odb_set(f"{COMMON_PATH}/Status", text)
        self.client.odb_set(f"{COMMON_PATH}/Status color", colour)

    def _alarm(self, fill: float) -> None:
        limit = float(self.settings["Spool alarm percent"]) / 100.0
        full = fill >= limit or self._spool_full() or self.guard.full
        if full and not self.alarm_on:
            message = (f"uploader spool disk full ({self.spool_bytes / MIB:.0f} MB spooled)"
                       if self.guard.full or self._disk_low else
                       f"uploader spool {100 * fill:.0f}% full ({self.spool_bytes / MIB:.0f} MB)")
            self.client.trigger_internal_alarm(SPOOL_ALARM, message[:79],
                                               str(self.settings["Alarm class"]))
            self.client.msg(message, True)
            self.alarm_on = True
        elif not full and self.alarm_on:
            self.alarm_on = False
            with contextlib.suppress(Exception):
                self.client.reset_alarm(SPOOL_ALARM)

    # -- main loop -------------------------------------------------------------------------
    def run_forever(self, yield_ms: int = 10) -> None:
        """communicate() and poll until the status page stops the program, then close."""
        communicate_until_stopped(self.client, self.poll, self.close, yield_ms)

    def close(self) -> None:
        """Close the open chunk (the run goes on in a new one at the next start) and give
        the shipper a moment to send what is spooled."""
        if self._closed:
            return
        self._closed = True
        try:
            self._drain(1.0)
            if not self.guard.full and self.guard.run(self.chunker.close_chunk):
                self.counters.chunks_closed += 1  # (else its journal is closed at restart)
            self.shipper.stop()
            self.periodic(force=True)
            self.client.odb_set(f"{COMMON_PATH}/Status", "Stopped")
            self.client.odb_set(f"{COMMON_PATH}/Status color", YELLOW)
        finally:
            self.source.close()


def _add_later(chunker: Chunker, event: bytes, run: int | None) -> Callable[[], None]:
    """The add of an event that could not be journaled, with its own copy of the bytes."""
    return lambda: chunker.add(event, run=run)


def experiment_dir(client: Any) -> Path:
    env = os.environ.get("MIDAS_DIR")
    if env:
        return Path(env)
    return Path.cwd()


def _plain(value: Any) -> Any:
    """An ODB value from odb_get as JSON-able Python (ctypes and bytes as plain values), with
    any password in a URL hidden: the dump goes to S3 in the run's first chunk."""
    from cygno_mw.redact import redact

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return redact(value)
    return value


def _common(name: str) -> dict[str, Any]:
    """/Equipment/Uploader/Common, as MIDAS frontends have it (so the status page lists it)."""
    def text(value: str, size: int) -> Any:
        return ctypes.create_string_buffer(value.encode()[:size - 1], size)

    return {
        "Event ID": ctypes.c_ushort(0), "Trigger mask": ctypes.c_ushort(0),
        "Buffer": text("SYSTEM", 32), "Type": ctypes.c_int32(0), "Source": ctypes.c_int32(0),
        "Format": text("MIDAS", 8), "Enabled": True, "Read on": ctypes.c_int32(0),
        "Period": ctypes.c_int32(0), "Event limit": ctypes.c_double(0),
        "Num subevents": ctypes.c_uint32(0), "Log history": ctypes.c_int32(0),
        "Frontend host": text(socket.gethostname(), 32), "Frontend name": text(name, 32),
        "Frontend file name": text("cygno-mw", 256), "Status": text("Starting", 256),
        "Status color": text(YELLOW, 32), "Hidden": False,
        "Write cache size": ctypes.c_int32(0),
    }


def main(argv: list[str] | None = None, prog: str = "cygno-mw analyzer uploader") -> int:
    from cygno_mw.midas_client import client_program_parser, run_client_program

    args = client_program_parser(prog, CLIENT_NAME, description=__doc__).parse_args(argv)
    return run_client_program(args, lambda client: Uploader(
        client, name=args.name).run_forever())
