"""The online analyzer: a MIDAS client that reconstructs events live from the SYSTEM buffer.

    cygno-mw analyzer online [-h HOST] [-e EXPT] [--name NAME] [-j N] [-D | -O]

Started from the status page through `/Programs/Online Analyzer`; stopped from there too
(communicate() exits, everything queued is flushed first).  Two threads:

- the MIDAS loop (this module): communicate(), the transition callbacks, receiving events
  and labelling each with its run (run_tracker.py), statistics, messages, alarms, the
  live display; it never waits for reconstruction or a server;
- the processing thread (processing.py): the replay's RunProcessor on each run.

ODB: `/Analyzer/Parameters/{Reco,Output}` (shared with the replay, watched and applied live
after validation; a bad value gets a MIDAS message and the old value back), `/Analyzer/Online`
(buffer, sampling type, event ids, time bounds, alarm limits), `/Analyzer/Reco/Statistics`,
`/Analyzer/Display` (see odb_templates/analyzer_statistics.json), `/Equipment/<client name>`
(the statistics' numbers for MIDAS history, statistics.py) and hidden `/Custom` keys for the
live pictures; the custom page's requests are answered through JSON-RPC (jrpc.py).
`/Analyzer/Online` is watched too, each value validated the same way: the intervals, alarm
limits and alarm class, `Max backlog`, `SQL flush interval s` and `Transition timeout s`
apply at once; `Buffer`, `Sampling` and `Event IDs` (a new event request, and for `Event
IDs` this process's cameras) at the next begin-of-run, as a MIDAS message says; `Writes run
row` at the next start.
`Pass name` (default `online`) is the processing pass results go to, from the next
begin-of-run (an online setting, so a replay never takes it from a file's ODB dump).

Several processes sharing the buffer (CPU only: each reports the rate it sustains in its
statistics).  The work is partitioned by camera: every process takes its own cameras' event
ids (camera n sends event id 10+n, slow control 30+), so each event is reconstructed by
exactly one process.  The first process keeps the client name `Online Analyzer` and its
settings in `/Analyzer/Online`; each extra one is started with `--name` and reads
`/Analyzer/Online/<name>` on top of them (created at its first start with `Event IDs` = ""
and `Writes run row` = n: set its event ids there).  Only the process with `Writes run row`
= y (the first) writes the Run row, and it also takes the slow-control events.  The Run
row's `reco_events` and `number_of_events` are totals over all processes: the writer resets
them to 0 at its begin-of-run (written at once; an extra process that ended the run before
the writer even began it, far behind, would see its counts reset), and at end-of-run every
process, the writer
included, adds its own counts SQL-side (`SqlSink.add_run_counts`); so re-analyze a run with
the writer running too (a run replayed by an extra process alone gets its counts added once
more; per-camera counts are always right in the macro table).  At begin-of-run each process
replaces only its own cameras' reco/macro rows, so re-analyzing a run in one process keeps
the others' rows; reco files are named per share (`run00012_reco_cam0_1.parquet`); an extra
process's statistics are in `/Analyzer/Reco/<name>/Statistics` and `.../Last run`, its SQL
spool in `<output_dir>/spool/<name>/`.  Processes may start together on a new, empty
database: creating the tables takes turns under a lock (outputs/migrate.py).
Example, four cameras on two processes:

    /Analyzer/Online/Event IDs = "10,11,30,31,32"        (CAM0, CAM1, slow control)
    /Analyzer/Online/Online Analyzer 2/Event IDs = "12,13"    (CAM2, CAM3)
    /Analyzer/Online/Online Analyzer 2/Writes run row = n
    /Programs/Online Analyzer/Start command =
        {cygno_mw} analyzer online -D
    /Programs/Online Analyzer 2/Start command =
        {cygno_mw} analyzer online --name "Online Analyzer 2" -D

(the other `/Programs/Online Analyzer 2` keys as for `Online Analyzer`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.online.alarms import AlarmLimits, OnlineAlarms
from cygno_mw.analyzers.online.display import LiveDisplay
from cygno_mw.analyzers.online.event_source import (
    BufferRequest,
    BufferSource,
    MalformedEventError,
    header_of,
)
from cygno_mw.analyzers.online.jrpc import PageService, register_display_file
from cygno_mw.analyzers.online.processing import OnlineProcessor, RunReport, SinkOptions
from cygno_mw.analyzers.online.run_tracker import EventItem, RunTracker
from cygno_mw.analyzers.online.statistics import (
    STATISTICS_PATH,
    OnlineStatistics,
    equipment_statistics,
    history_common,
    history_path,
)
from cygno_mw.analyzers.parameters import ODB_PARAMETERS, SECTIONS, AnalyzerParameters
from cygno_mw.errors import ConfigError
from cygno_mw.midas_client import communicate_until_stopped

log = logging.getLogger(__name__)

CLIENT_NAME = "Online Analyzer"
SETTINGS_PATH = "/Analyzer/Online"
DISPLAY_PATH = "/Analyzer/Display"
START_SEQUENCE = 300  # before the frontends (500) send the new run's first event
STOP_SEQUENCE = 700  # after the frontends (500) sent the old run's last one
DEFAULT_SETTINGS: dict[str, Any] = {
    "Buffer": "SYSTEM",
    "Sampling": "GET_NONBLOCKING",
    "Event IDs": "",
    "Transition timeout s": 2.0,
    "Max backlog": 64,
    "Statistics interval s": 2.0,
    "Display interval s": 5.0,
    "No events alarm s": 60.0,
    "Pedestal drift threshold": 5.0,
    "Output backlog limit": 1000,
    "SQL flush interval s": 2.0,
    "Alarm class": "Alarm",
    "Writes run row": True,
    "Pass name": "online",  # processing pass of the results, from the next begin-of-run
}
# /Analyzer/Online keys applied as soon as they change: (convert, smallest allowed value)
LIVE_SETTINGS: dict[str, tuple[Callable[[Any], Any], float]] = {
    "Statistics interval s": (float, 0.1),
    "Display interval s": (float, 0.1),
    "No events alarm s": (float, 1.0),
    "Pedestal drift threshold": (float, 0.0),
    "Output backlog limit": (int, 1),
    "SQL flush interval s": (float, 0.0),
    "Max backlog": (int, 1),
    "Transition timeout s": (float, 0.0),
}
# ... applied at the next begin-of-run (they make a new event request)
REQUEST_SETTINGS = ("Buffer", "Sampling", "Event IDs")
# what an extra process (any --name but CLIENT_NAME) overrides in /Analyzer/Online/<name>
PROCESS_SETTINGS: dict[str, Any] = {"Event IDs": "", "Writes run row": False}
CAMERA_EVENT_IDS = range(10, 20)  # frontend_names.camera_event_id(index) = 10 + index
SLOW_CONTROL_EVENT_IDS = range(30, 40)  # frontend_names.slow_control_event_id
# the parts of the ODB a run's processing reads (run info, configuration, equipment, params)
SNAPSHOT_PATHS = ("/Runinfo", "/Experiment/Run Parameters", "/Configurations", "/Equipment",
                  ODB_PARAMETERS)


class OnlineAnalyzer:
    """The MIDAS side of the online analyzer (see the module docstring)."""

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.monotonic,
                 workers: int = 1,
                 gate: threading.Event | None = None, name: str | None = None) -> None:
        self.client = client
        self.clock = clock
        self.name = str(name or getattr(client, "name", CLIENT_NAME))
        self.extra_process = self.name != CLIENT_NAME
        # an extra process has its own settings and statistics, named after its client name
        self.settings_path = f"{SETTINGS_PATH}/{self.name}" if self.extra_process else None
        home = f"/Analyzer/Reco/{self.name}" if self.extra_process else "/Analyzer/Reco"
        self.statistics_path = f"{home}/Statistics" if self.extra_process else STATISTICS_PATH
        self.last_run_path = f"{home}/Last run"
        self._register_transitions()
        self.settings = self._install_settings()
        self.params = self._install_parameters()
        self.stats = OnlineStatistics(clock)
        self.alarms = OnlineAlarms(client, AlarmLimits(
            float(self.settings["No events alarm s"]),
            float(self.settings["Pedestal drift threshold"]),
            int(self.settings["Output backlog limit"])), str(self.settings["Alarm class"]))
        # results go to an absolute place, never to the folder MIDAS started us in
        self.experiment_dir = experiment_dir(client)
        self.display = LiveDisplay(Path(self.params_in_use().output.output_dir) / "online")
        self.history_path = history_path(self.name)
        # Variables before Common: mlogger refuses a run start for an equipment whose history
        # is on and that has no Variables
        client.odb_set(f"{self.history_path}/Variables", self.stats.to_history(),
                       remove_unspecified_keys=False, update_structure_only=True)
        common = history_common(self.name)
        client.odb_set(f"{self.history_path}/Common", common, remove_unspecified_keys=False,
                       update_structure_only=True)
        client.odb_set(f"{self.history_path}/Common/Frontend host", common["Frontend host"])
        self.page_service = PageService(lambda: self.params_in_use().output.database_url,
                                        lambda: dict(self.display.boxes))
        client.register_jrpc_callback(self.page_service)
        self.tracker = RunTracker()
        self._notes: collections.deque[tuple[str, bool]] = collections.deque()
        self._reports: collections.deque[RunReport] = collections.deque()
        self._reference_pedestals: dict[int, dict[str, float]] = {}
        event_ids = _event_ids(str(self.settings["Event IDs"]))
        self.writes_run_row = bool(self.settings["Writes run row"])
        self.cameras = _cameras(event_ids)
        self.processor = OnlineProcessor(
            self.params_in_use, self.stats, workers=workers,
            on_result=self.display.offer, on_run_end=self._reports.append,
            on_error=lambda text: self._notes.append((text, True)), gate=gate,
            sink_options={"cameras": self.cameras, "writes_run_row": self.writes_run_row,
                          "spool_name": _file_name(self.name) if self.extra_process else ""})
        self.request = BufferRequest(str(self.settings["Buffer"]),
                                     str(self.settings["Sampling"]), event_ids)
        self._check_share(event_ids)
        self.processor.flush_interval_s = max(0.0, float(self.settings["SQL flush interval s"]))
        self.processor.pass_name = self._check_setting("Pass name", self.settings["Pass name"])
        self.max_backlog = max(1, int(self.settings["Max backlog"]))
        self.transition_timeout_s = max(0.0, float(self.settings["Transition timeout s"]))
        self.source = BufferSource(client, self.request)
        self.running = False
        self.paused = False
        self._run_started_at: float | None = None
        self._next_statistics = 0.0
        self._next_display = 0.0
        self._outputs_down = False
        self._closed = False
        self._next_request: BufferRequest | None = None  # from the next begin-of-run
        client.odb_watch(ODB_PARAMETERS, self._parameters_changed)
        client.odb_watch(SETTINGS_PATH, self._settings_changed)
        self.processor.start()
        self._join_run_in_progress()

    def _register_transitions(self) -> None:
        """Done first thing: a run started while the rest is set up then waits for us
        (callbacks run in communicate()) instead of being missed."""
        import midas

        client = self.client
        client.register_transition_callback(midas.TR_START, START_SEQUENCE, self._on_start)
        client.register_transition_callback(midas.TR_STOP, STOP_SEQUENCE, self._on_stop)
        client.register_transition_callback(midas.TR_PAUSE, STOP_SEQUENCE, self._on_pause)
        client.register_transition_callback(midas.TR_RESUME, START_SEQUENCE, self._on_resume)

    def _join_run_in_progress(self, timeout_s: float = 120.0) -> None:
        """Serve a transition that is under way (our callbacks may be part of it), then join
        a run that was already going when this program started."""
        import midas

        client = self.client
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _transition_in_progress(client):
            client.communicate(10)
        state = client.odb_get("/Runinfo/State")
        if self.running or state not in (midas.STATE_RUNNING, midas.STATE_PAUSED):
            return
        # started mid-run: the only time the run number is read rather than given
        run = int(client.odb_get("/Runinfo/Run number"))
        client.msg(f"{self.name} started during run {run}: analyzing from now on")
        self._on_start(client, run)
        self.paused = state == midas.STATE_PAUSED

    def params_in_use(self) -> AnalyzerParameters:
        """The parameters, a relative `output_dir` taken from the experiment directory."""
        return anchored(self.params, self.experiment_dir)

    # -- ODB set-up ------------------------------------------------------------------------
    def _install_settings(self) -> dict[str, Any]:
        """`/Analyzer/Online`; for an extra process, overridden by `/Analyzer/Online/<name>`."""
        self.client.odb_set(SETTINGS_PATH, DEFAULT_SETTINGS, remove_unspecified_keys=False,
                            update_structure_only=True)
        settings = {**DEFAULT_SETTINGS, **_values(self.client.odb_get(SETTINGS_PATH))}
        if self.settings_path is not None:
            self.client.odb_set(self.settings_path, PROCESS_SETTINGS,
                                remove_unspecified_keys=False, update_structure_only=True)
            settings.update(_values(self.client.odb_get(self.settings_path)))
        return settings

    def _settings_changed(self, client: Any, path: str, value: Any) -> None:
        """Watch callback on `/Analyzer/Online`: validate each changed setting; apply it (at
        once, or from the next begin-of-run for the event request), or put the old one back."""
        if not isinstance(value, Mapping):
            return
        top = _values(value)
        mine: dict[str, Any] = {}
        if self.settings_path is not None:
            for key, sub in value.items():
                if key.lower() == self.name.lower() and isinstance(sub, Mapping):
                    mine = _values(sub)
        wanted = {**top, **mine}
        applied, later = [], []
        for key, new in wanted.items():
            if key not in DEFAULT_SETTINGS or new == self.settings.get(key):
                continue
            where = f"{self.settings_path if key in mine else SETTINGS_PATH}/{key}"
            try:
                checked = self._check_setting(key, new)
            except (TypeError, ValueError) as exc:
                client.msg(f"{where}: {exc}; keeping {self.settings[key]!r}", True)
                client.odb_set(where, self.settings[key])
                continue
            self.settings[key] = checked
            if key in REQUEST_SETTINGS:
                self._next_request = self._request_from_settings()
                later.append(key)
            elif key == "Pass name":
                self.processor.pass_name = checked  # read at the next begin-of-run
                later.append(key)
            elif key == "Writes run row":
                client.msg(f"{self.name}: {where} changed; applied at the program's next "
                           "start")
            else:
                self._apply_setting(key, checked)
                applied.append(key)
        if applied:
            client.msg(f"{self.name}: settings changed ({', '.join(applied)}); applied now")
        if later:
            client.msg(f"{self.name}: settings changed ({', '.join(later)}); applied from "
                       "the next begin-of-run")

    def _check_setting(self, key: str, value: Any) -> Any:
        """The value to use for `key`; ValueError/TypeError when it is not acceptable."""
        if key in LIVE_SETTINGS:
            convert, smallest = LIVE_SETTINGS[key]
            if isinstance(value, bool):
                raise TypeError(f"expected a number, got {value!r}")
            number = convert(value)
            if not math.isfinite(number) or number < smallest:
                raise ValueError(f"must be a number of at least {smallest}, got {value!r}")
            return number
        if key == "Buffer":
            if not str(value).strip():
                raise ValueError("the buffer name is empty")
            return str(value).strip()
        if key == "Sampling":
            return BufferRequest(sampling=str(value)).sampling
        if key == "Event IDs":
            try:
                _event_ids(str(value))
            except ValueError:
                raise ValueError(f"not a list of event ids: {value!r}") from None
            return str(value)
        if key == "Alarm class":
            if not str(value).strip():
                raise ValueError("the alarm class is empty")
            return str(value)
        if key == "Pass name":
            from cygno_mw.analyzers.outputs.passes import check_pass_name
            from cygno_mw.errors import UsageError

            try:
                return check_pass_name(str(value).strip())
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        return value

    def _apply_setting(self, key: str, value: Any) -> None:
        """Make a validated live setting take effect now."""
        limits = self.alarms.limits
        if key == "No events alarm s":
            self.alarms.limits = dataclasses.replace(limits, no_events_s=value)
        elif key == "Pedestal drift threshold":
            self.alarms.limits = dataclasses.replace(limits, drift_threshold=value)
        elif key == "Output backlog limit":
            self.alarms.limits = dataclasses.replace(limits, output_backlog_limit=value)
        elif key == "Alarm class":
            self.alarms.alarm_class = value
        elif key == "SQL flush interval s":
            self.processor.flush_interval_s = value
        elif key == "Max backlog":
            self.max_backlog = value
        elif key == "Transition timeout s":
            self.transition_timeout_s = value
        elif key == "Statistics interval s":
            self._next_statistics = min(self._next_statistics, self.clock() + value)
        elif key == "Display interval s":
            self._next_display = min(self._next_display, self.clock() + value)

    def _request_from_settings(self) -> BufferRequest:
        return BufferRequest(str(self.settings["Buffer"]), str(self.settings["Sampling"]),
                             _event_ids(str(self.settings["Event IDs"])))

    def _renew_request(self) -> None:
        """At begin-of-run: a new event request (and camera share) if the settings changed."""
        request, self._next_request = self._next_request, None
        if request is None or request == self.request:
            return
        try:
            source = BufferSource(self.client, request)
        except Exception as exc:  # keep analyzing with the old request rather than stop
            self.client.msg(f"{self.name}: cannot request {request}: {exc}; keeping "
                            f"{self.request}", True)
            return
        self.source.close()
        self.request, self.source = request, source
        cameras = _cameras(request.event_ids)
        if cameras != self.cameras:
            self.cameras = cameras
            self._check_share(request.event_ids)
            options = {**self.processor.sink_options, "cameras": cameras}
            self.backlog_put([SinkOptions(options)])
        self.client.msg(f"{self.name}: now requesting buffer {request.buffer_name}, "
                        f"{request.sampling}, event ids "
                        f"{'all' if request.event_ids == (-1,) else list(request.event_ids)}")

    def _check_share(self, event_ids: tuple[int, ...]) -> None:
        """A process that does not write the Run row shares the buffer: it must take only
        its own cameras' events, or it would duplicate (and erase) the others' results."""
        if self.writes_run_row:
            return
        where = self.settings_path or SETTINGS_PATH
        if self.cameras is None:
            self.client.msg(f"{self.name}: 'Writes run row' is off but 'Event IDs' is empty "
                            f"(every event): set this process's camera event ids in {where}",
                            True)
        elif any(i in SLOW_CONTROL_EVENT_IDS for i in event_ids):
            self.client.msg(f"{self.name}: slow-control events belong to the process that "
                            f"writes the Run row; remove them from {where}/Event IDs", True)

    def _install_parameters(self) -> AnalyzerParameters:
        defaults = AnalyzerParameters.defaults()
        if not self.client.odb_exists(ODB_PARAMETERS):
            self.client.odb_set(ODB_PARAMETERS, defaults.to_odb())
        params = defaults
        current = self.client.odb_get(ODB_PARAMETERS)
        for section in SECTIONS:
            values = _section(current, section)
            if values:
                try:
                    params = params.updated(section, values)
                except ConfigError as exc:
                    self.client.msg(f"{ODB_PARAMETERS}/{section}: {exc}; using defaults", True)
        return params

    def _parameters_changed(self, client: Any, path: str, value: Any) -> None:
        """Watch callback: validate each changed value; apply it, or put the old one back."""
        if not isinstance(value, Mapping):
            return
        params = self.params
        for section in SECTIONS:
            current = getattr(params, section.lower()).to_mapping()
            changed = _changed(_section(value, section), current)
            for key, new in changed.items():
                try:
                    params = params.updated(section, {key: new})
                except ConfigError as exc:
                    client.msg(f"{ODB_PARAMETERS}/{section}/{key}: {exc}; keeping "
                               f"{_old_value(current, key)!r}", True)
                    client.odb_set(f"{ODB_PARAMETERS}/{section}/{key}",
                                   _old_value(current, key))
            if params is not self.params and changed:
                when = "from the next event" if section == "Reco" else "from the next run"
                client.msg(f"{CLIENT_NAME}: {section} parameters changed ({', '.join(changed)})"
                           f"; applied {when}")
        self.params = params

    # -- transitions (short: they hold up the DAQ) -----------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for path in SNAPSHOT_PATHS:
            if not self.client.odb_exists(path):
                continue
            node = tree
            parts = [p for p in path.split("/") if p]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = self.client.odb_get(path)
        return tree

    def _on_start(self, client: Any, run_number: int) -> int:
        import midas

        self._renew_request()
        self.backlog_put(self.tracker.begin(int(run_number), self._snapshot()))
        self.running, self.paused = True, False
        self._run_started_at = self.clock()
        self.stats.run, self.stats.run_state = int(run_number), "running"
        return midas.status_codes["SUCCESS"]

    def _on_stop(self, client: Any, run_number: int) -> int:
        """Label what the frontends left in the buffer as this run's, within the time bound;
        never wait for the processing."""
        import midas

        drained = self._drain(self.transition_timeout_s)
        self.backlog_put(self.tracker.end(int(run_number), self._snapshot(), drained=drained))
        self.running = self.paused = False
        self.stats.run_state = "stopped"
        return midas.status_codes["SUCCESS"]

    def _on_pause(self, client: Any, run_number: int) -> int:
        import midas

        self.backlog_put(self.tracker.pause(True))
        self.paused, self.stats.run_state = True, "paused"
        return midas.status_codes["SUCCESS"]

    def _on_resume(self, client: Any, run_number: int) -> int:
        import midas

        self.backlog_put(self.tracker.pause(False))
        self.paused, self.stats.run_state = False, "running"
        self._run_started_at = self.clock()
        return midas.status_codes["SUCCESS"]

    def _drain(self, seconds: float) -> bool:
        """Receive everything waiting in the buffer; False if `seconds` ran out first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._receive_one(keep=True):
                return True
        return False

    # -- events ----------------------------------------------------------------------------
    def backlog_put(self, items: list[Any]) -> None:
        self.processor.backlog.put_all(items)

    def _receive_one(self, keep: bool = False) -> bool:
        """Receive and label one event; False when the buffer had none."""
        try:
            event = self.source.receive()
        except MalformedEventError as exc:
            self.stats.count("received")
            self.stats.count("malformed")
            self.stats.count("skipped")
            log.warning("%s", exc)
            return True
        if event is None:
            self.backlog_put(self.tracker.buffer_empty())
            return False
        if event.header.is_midas_internal_event():
            return True
        self.stats.received_event()
        event_id, serial, _ = header_of(event)
        items = self.tracker.label(event_id, serial, event, time.monotonic())
        if not keep and self.processor.backlog.events() >= self.max_backlog:
            # GET_NONBLOCKING: the analyzer is behind; count it in its run and let it go
            for item in items:
                if isinstance(item, EventItem):
                    item.event = None
                    self.stats.count("dropped")
        self.backlog_put(items)
        return True

    def poll(self, max_events: int = 100) -> int:
        """Receive up to `max_events` (fewer when the backlog is full under GET_ALL, which
        then makes the DAQ wait), then do the periodic work; returns events received."""
        received = 0
        while received < max_events:
            if self.request.gets_all and self.processor.backlog.events() >= self.max_backlog:
                break
            if not self._receive_one():
                break
            received += 1
        self.periodic()
        return received

    # -- periodic work (MIDAS thread) ------------------------------------------------------
    def periodic(self, force: bool = False) -> None:
        now = self.clock()
        while self._notes:
            text, is_error = self._notes.popleft()
            self.client.msg(text, is_error)
        while self._reports:
            self._run_ended(self._reports.popleft())
        if force or now >= self._next_statistics:
            self._next_statistics = now + float(self.settings["Statistics interval s"])
            self.write_statistics()
            self._check_alarms(now)
        if force or now >= self._next_display:
            self._next_display = now + float(self.settings["Display interval s"])
            written = self.display.write()
            for camera, facts in written.items():
                self.client.odb_set(f"{DISPLAY_PATH}/Camera{camera}", facts)
                register_display_file(self.client, camera, str(facts["File"]))

    def write_statistics(self) -> None:
        stats = self.stats
        stats.backlog = self.processor.backlog.events()
        stats.output_backlog = self.processor.output_backlog()
        stats.output_dropped = self.processor.output_dropped()
        stats.update_rate()
        record = stats.to_odb()
        self.client.odb_set(self.statistics_path, record, remove_unspecified_keys=False)
        self.client.odb_set(f"{self.history_path}/Variables", stats.to_history(record),
                            remove_unspecified_keys=False)
        sinks = self.processor.sinks
        influx = sinks.influx if sinks is not None and not self._closed else None
        if influx is not None and influx.keeping_up():  # statistics give way in an outage
            run = int(stats.run) or None
            influx.write_analyzer(self.name, run=run, **stats.to_influx())
            for equipment, fields in equipment_statistics(self.client).items():
                influx.write_daq(equipment, run=run, **fields)

    def _check_alarms(self, now: float) -> None:
        last = self.stats.last_event_at
        since = self._run_started_at if last is None else max(last, self._run_started_at or 0)
        idle = None if since is None else now - since
        self.alarms.check_events(self.running and not self.paused, idle)
        self.alarms.check_output(self.stats.output_backlog)
        sinks = self.processor.sinks
        if sinks is None:
            return
        backlog = sinks.backlog()
        down = backlog["sql_spooled_batches"] > 0
        if down and not self._outputs_down:
            self.client.msg(f"{CLIENT_NAME}: SQL database unavailable; results kept on disk "
                            f"({backlog['sql_spooled_batches']} batches) until it is back", True)
        elif self._outputs_down and not down:
            self.client.msg(f"{CLIENT_NAME}: SQL database back; spooled results written")
        self._outputs_down = down

    def _run_ended(self, report: RunReport) -> None:
        summary = report.summary
        text = (f"{CLIENT_NAME}: run {summary.run} {summary.reco_status}: {report.seen} events "
                f"seen, {report.analyzed} analyzed, {report.skipped} skipped, "
                f"{summary.reconstructed} images reconstructed, {summary.clusters} clusters")
        self.client.msg(text + (f" ({report.error})" if report.error else ""),
                        report.error is not None)
        self.client.odb_set(self.last_run_path, {
            "Run": int(summary.run), "Status": summary.reco_status,
            "Events seen": int(report.seen), "Events analyzed": int(report.analyzed),
            "Events skipped": int(report.skipped), "Images": int(summary.reconstructed),
            "Clusters": int(summary.clusters), "Pedestal run": bool(summary.pedestal_run)})
        for camera, stats in report.pedestal_stats.items():
            self.alarms.check_pedestal(summary.run, camera, stats,
                                       self._reference_pedestals.get(camera))
            self._reference_pedestals[camera] = stats

    # -- main loop -------------------------------------------------------------------------
    def run_forever(self, yield_ms: int = 10) -> None:
        """communicate() and poll until the status page stops the program, then close."""
        communicate_until_stopped(self.client, self.poll, self.close, yield_ms)

    def close(self) -> None:
        """Flush everything queued (an open run is ended as it stands) and let go of MIDAS."""
        if self._closed:
            return
        self._closed = True
        try:
            self.processor.stop()
            self.periodic(force=True)  # the final statistics, Last run and messages
        finally:
            self.source.close()
            self.page_service.close()


def experiment_dir(client: Any) -> Path:
    """Where relative output paths point: the experiment directory ($MIDAS_DIR), else an
    absolute `/Logger/Data dir`, else the current folder."""
    env = os.environ.get("MIDAS_DIR")
    if env:
        return Path(env)
    path = "/Logger/Data dir"
    if client.odb_exists(path) and os.path.isabs(str(client.odb_get(path))):
        return Path(str(client.odb_get(path)))
    return Path.cwd()


def anchored(params: AnalyzerParameters, base: Path) -> AnalyzerParameters:
    """`params` with a relative Output `output_dir` made absolute under `base` (the default
    SQLite database lives in output_dir, so it follows)."""
    output = params.output
    if Path(output.output_dir).is_absolute():
        return params
    return dataclasses.replace(params, output=dataclasses.replace(
        output, output_dir=str(base / output.output_dir)))


def _transition_in_progress(client: Any) -> bool:
    path = "/Runinfo/Transition in progress"
    return bool(client.odb_exists(path) and client.odb_get(path))


def _section(tree: Any, section: str) -> dict[str, Any]:
    if not isinstance(tree, Mapping):
        return {}
    for key, value in tree.items():
        if key.lower() == section.lower() and isinstance(value, Mapping):
            return {k: v for k, v in value.items() if not k.endswith("/key")}
    return {}


def _normal(key: str) -> str:
    return key.lower().replace(" ", "_")


def _changed(values: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that differ from the parameters in use."""
    norm = {_normal(k): v for k, v in current.items()}
    return {k: v for k, v in values.items() if norm.get(_normal(k), object()) != v}


def _old_value(current: Mapping[str, Any], key: str) -> Any:
    return {_normal(k): v for k, v in current.items()}.get(_normal(key))


def _values(tree: Any) -> dict[str, Any]:
    """The settings of one ODB directory (not its subdirectories or key metadata)."""
    if not isinstance(tree, Mapping):
        return {}
    return {k: v for k, v in tree.items()
            if not k.endswith("/key") and not isinstance(v, Mapping)}


def _cameras(event_ids: tuple[int, ...]) -> tuple[int, ...] | None:
    """The cameras whose events `event_ids` selects; None for every event."""
    if -1 in event_ids:
        return None
    return tuple(sorted({i - CAMERA_EVENT_IDS[0] for i in event_ids if i in CAMERA_EVENT_IDS}))


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def _event_ids(text: str) -> tuple[int, ...]:
    """'' -> all; '10, 11, 30' -> (10, 11, 30)."""
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    return tuple(int(p) for p in parts) if parts else (-1,)


def main(argv: list[str] | None = None, prog: str = "cygno-mw analyzer online") -> int:
    from cygno_mw.midas_client import client_program_parser, run_client_program

    parser = client_program_parser(prog, CLIENT_NAME)
    parser.add_argument("-j", dest="workers", type=int, default=1,
                        help="CPU worker processes for the reconstruction")
    args = parser.parse_args(argv)
    return run_client_program(args, lambda client: OnlineAnalyzer(
        client, workers=args.workers, name=args.name).run_forever())
