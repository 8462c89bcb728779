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

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cygno_mw.midas_client import communicate_until_stopped

from .buffer_source import RawBufferSource
from .chunker import Chunker
from .destinations import make_shipper, run_file_shipper
from .odb_dump import odb_snapshot
from .settings import (
    CLIENT_NAME,
    COMMON_PATH,
    MIB,
    SETTINGS_PATH,
    YELLOW,
    checked_database_url,
    experiment_dir,
    install_settings,
)
from .shipping_thread import Counters, ShipperThread
from .spool import ChunkSpool
from .spool_room import SpoolRoom
from .statistics import StatusReport

START_SEQUENCE = 300  # before the frontends (500) send the run's first event
STOP_SEQUENCE = 700  # after the frontends (500) sent its last one


class Uploader:
    """The MIDAS side (see the module docstring)."""

    def __init__(self, client: Any, *, name: str = CLIENT_NAME) -> None:
        self.client = client
        self.name = name
        self._register_transitions()
        self.settings = install_settings(client, name)
        base = experiment_dir(client)
        spool_dir = Path(str(self.settings["Spool dir"]))
        self.spool = ChunkSpool(spool_dir if spool_dir.is_absolute() else base / spool_dir,
                                int(float(self.settings["Spool limit MB"]) * MIB))
        self.chunker = Chunker(self.spool,
                               max_bytes=int(float(self.settings["Chunk max MB"]) * MIB),
                               max_age_s=float(self.settings["Chunk max s"]))
        self.counters = Counters()
        self.room = SpoolRoom(client, name, self.spool, self.chunker,
                              float(self.settings["Retry s"]))
        self.guard = self.room.guard
        self.guard.run(self._recover)
        shipper = make_shipper(client, name, self.settings, self.spool)
        self.shipper = ShipperThread(shipper, self.counters, float(self.settings["Retry s"]),
                                     run_file_shipper(client, self.settings, shipper),
                                     self._open_run)
        self.source = RawBufferSource(client, str(self.settings["Buffer"]))
        self.report = StatusReport(client, name, self.settings, self.counters, self.shipper,
                                   self.room)
        self.running = False
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

    def _settings_changed(self, client: Any, path: str, value: Any) -> None:
        """Watch callback: the settings apply at the next start, but a password written into
        `Database URL` is refused at once (before a run start dumps the ODB)."""
        if isinstance(value, Mapping) and "Database URL" in value:
            url = str(value["Database URL"])
            if url != self.settings["Database URL"]:
                checked_database_url(self.client, url, str(self.settings["Database URL"]))

    def _recover(self) -> None:
        recovered = self.chunker.recover()
        if recovered:
            lost = self.chunker.truncated_events
            self.client.msg(f"{self.name}: closed {len(recovered)} chunk(s) left open by the "
                            f"last stop ({sum(m.events for m in recovered)} events kept"
                            + (f", {lost} cut short and dropped)" if lost else ")"))

    def _open_run(self) -> int | None:
        """The run mlogger may still be writing (never uploaded while running)."""
        return self.chunker.run if self.running else None

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
        odb = odb_snapshot(self.client)
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
        eor = odb_snapshot(self.client, ("/Runinfo",))
        self.guard.run(lambda: self._end_chunks(eor))
        self.running = False
        self.shipper.wake.set()
        return midas.status_codes["SUCCESS"]

    def _end_chunks(self, eor: dict[str, Any]) -> None:
        if self.chunker.end_run(eor) is not None:
            self.counters.chunks_closed += 1

    def _drain(self, seconds: float) -> bool:
        """Take what the buffer holds, for at most `seconds`; True when it ran empty. A full
        spool (or disk) is waited for, not overrun: the shipper may free room meanwhile."""
        deadline = time.monotonic() + seconds
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if (self.guard.full and not self.guard.retry()) or self.room.full():
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
        self.room.taken(data.nbytes)
        return True

    def _run_number(self) -> int:
        return int(self.client.odb_get("/Runinfo/Run number"))

    def _chunk_closed(self) -> None:
        self.counters.chunks_closed += 1
        self.shipper.wake.set()

    def poll(self, max_events: int = 50) -> int:
        received = 0
        if self.guard.full and self.guard.retry():
            self.shipper.wake.set()
        while received < max_events and not self.room.full() and self._receive_one():
            received += 1
        self.guard.run(self._tick)
        self.periodic()
        return received

    def _tick(self) -> None:
        if self.chunker.tick() is not None:
            self._chunk_closed()

    # -- statistics, status, alarm ---------------------------------------------------------
    def periodic(self, force: bool = False) -> None:
        """Statistics, status and alarm when due (statistics.py), naming the run taken."""
        self.report.periodic(self.running, self.chunker.run, force)

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


def main(argv: list[str] | None = None, prog: str = "cygno-mw analyzer uploader") -> int:
    from cygno_mw.midas_client import client_program_parser, run_client_program

    args = client_program_parser(prog, CLIENT_NAME, description=__doc__).parse_args(argv)
    return run_client_program(args, lambda client: Uploader(
        client, name=args.name).run_forever())
