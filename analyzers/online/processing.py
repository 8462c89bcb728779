"""The processing thread: labelled events in, the replay's `RunProcessor` on each run.

The MIDAS loop only receives and labels (see online_run_tracker); everything slow happens
here, so transitions and the status page never wait for reconstruction or for a database.
Between the two sits `Backlog`, a queue whose length the MIDAS loop bounds by receiving less.

Parameters: a new `/Analyzer/Parameters/Reco` takes effect at the next event (the images in
flight are finished with the old one); a new `Output` at the next begin-of-run.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cygno_mw.analyzers.online.event_source import decode
from cygno_mw.analyzers.online.run_tracker import EventItem, RunBegin, RunEnd, RunPause
from cygno_mw.analyzers.online.sinks import OnlineSinks
from cygno_mw.analyzers.online.statistics import OnlineStatistics
from cygno_mw.analyzers.output_params import resolve_output
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.analyzers.reco_engine import make_engine
from cygno_mw.analyzers.run_info import end_of_run_fields
from cygno_mw.analyzers.run_processor import RunProcessor
from cygno_mw.analyzers.summary import RunSummary

log = logging.getLogger(__name__)

_STOP = object()
_CLOSE_OPEN_RUN = object()
STOPPED_MID_RUN = "the analyzer was stopped during the run; later events were not seen"


class Backlog:
    """Items waiting for the processing thread (unbounded here; the producer bounds it)."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False

    def put_all(self, items: list[Any]) -> None:
        if items:
            with self._cond:
                self._items.extend(items)
                self._cond.notify_all()

    def take(self, timeout: float) -> Any | None:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            self._busy = True
            return self._items.popleft()

    def done(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def events(self) -> int:
        with self._cond:
            return sum(1 for item in self._items if isinstance(item, EventItem))

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until every item was processed (True) or `timeout` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


@dataclasses.dataclass(frozen=True)
class SinkOptions:
    """New OnlineSinks sharing options (the process's cameras), effective from the next
    begin-of-run: queued in the backlog so the runs before it keep their old sinks."""

    options: dict[str, Any]


@dataclasses.dataclass
class RunReport:
    """What the processing thread tells the MIDAS loop at the end of a run."""

    summary: RunSummary
    seen: int
    analyzed: int
    skipped: int
    error: str | None = None
    pedestal_stats: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)


class OnlineProcessor:
    """Runs the processing thread (see the module docstring)."""

    def __init__(self, params: Callable[[], AnalyzerParameters], stats: OnlineStatistics, *,
                 workers: int = 1,
                 on_result: Callable[[Any, Any], None] | None = None,
                 on_run_end: Callable[[RunReport], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 gate: threading.Event | None = None,
                 sink_options: dict[str, Any] | None = None) -> None:
        self.current_params = params
        self.stats = stats
        self.workers = workers
        self.on_result = on_result
        self.on_run_end = on_run_end
        self.on_error = on_error or (lambda text: log.error("%s", text))
        self.gate = gate  # tests: processing waits while it is clear
        self.sink_options = dict(sink_options or {})  # OnlineSinks' sharing options
        self.pass_name = "online"  # /Analyzer/Online/Pass name, used from the next run
        self.backlog = Backlog()
        self.sinks: OnlineSinks | None = None
        self._sinks_output: Any = None
        self.engine: Any = None
        self._engine_reco: Any = None
        self.processor: RunProcessor | None = None
        self._run_counts = [0, 0, 0]  # seen, analyzed, skipped
        # a run whose processing failed (no pedestal map, a sink error): its remaining events
        # are counted in it (skipped) and its end-of-run still completes its Run row
        self._failed: tuple[RunSummary, str] | None = None
        self.flush_interval_s = 2.0  # SQL flushes during a run and retries of the spool
        self._stop_problem = STOPPED_MID_RUN
        self._last_flush = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cygno-online", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            item = self.backlog.take(timeout=0.2)
            if item is None:
                if self._stop.is_set():
                    return
                try:
                    self._idle()
                except Exception as exc:
                    log.exception("online processing (idle)")
                    self.on_error(f"online analyzer: {type(exc).__name__}: {exc}")
                continue
            try:
                if item is _STOP:
                    return
                if item is _CLOSE_OPEN_RUN:
                    self._close_open_run()
                    continue
                if self.gate is not None:
                    self.gate.wait()
                self._handle(item)
            except Exception as exc:
                log.exception("online processing")
                self.on_error(f"online analyzer: {type(exc).__name__}: {exc}")
            finally:
                self.backlog.done()

    def _close_open_run(self) -> None:
        processor = self.processor
        if processor is not None and processor.run is not None:
            self.on_error(f"run {processor.run}: {self._stop_problem}; marked partial")
            self._end(RunEnd(processor.run, {}, problem=self._stop_problem))

    def _handle(self, item: Any) -> None:
        if isinstance(item, EventItem):
            self._event(item)
        elif isinstance(item, RunBegin):
            self._begin(item)
        elif isinstance(item, RunEnd):
            self._end(item)
        elif isinstance(item, SinkOptions):
            if item.options != self.sink_options:
                self.sink_options = dict(item.options)
                self._sinks_output = None  # new sinks at the next begin-of-run
        elif isinstance(item, RunPause) and self.sinks is not None and item.paused:
            self.sinks.sql.flush()

    def _begin(self, item: RunBegin) -> None:
        if self.processor is not None and self.processor.run is not None:
            self.on_error(f"run {self.processor.run} had no end-of-run; closed at the "
                          f"start of run {item.run}")
            self._end(RunEnd(self.processor.run, {}))
        params = self.current_params()
        output = resolve_output(params.output, None)
        if self.sinks is None or self._sinks_output != output:
            if self.sinks is not None:
                self.sinks.close()
            self.sinks = OnlineSinks(output, **self.sink_options)
            self._sinks_output = output
        self._ensure_engine(params)
        sinks = self.sinks
        wanted = self.pass_name
        used = sinks.use_pass(wanted, params, self.engine.backend)
        if used != wanted:
            self.on_error(f"run {item.run}: pass {wanted!r} was made with other parameters; "
                          f"this run's results go to pass {used!r} (set /Analyzer/Online/"
                          "Pass name to name it)")
        self.processor = RunProcessor(params, sinks, self.engine,
                                      pedestals=sinks.find_pedestal, on_result=self.on_result)
        self._run_counts = [0, 0, 0]
        self._failed = None
        self.processor.begin_run(item.run, item.odb, source="MIDAS buffer")
        self.stats.backend, self.stats.device = self.engine.backend, self.engine.device_name

    def _ensure_engine(self, params: AnalyzerParameters) -> None:
        """A new engine when the Reco parameters changed; the open run switches to it
        between two events (RunProcessor.switch_reco finishes the images in flight)."""
        if self.engine is not None and self._engine_reco == params.reco:
            return
        engine = make_engine(params.reco, self.workers)
        old, self.engine, self._engine_reco = self.engine, engine, params.reco
        processor = self.processor
        if processor is not None and processor.run is not None:
            try:
                processor.switch_reco(params, engine)
            finally:
                if old is not None:
                    old.close()
        elif old is not None:
            old.close()

    def _event(self, item: EventItem) -> None:
        processor = self.processor
        self._run_counts[0] += 1
        if self._failed is not None and item.run == self._failed[0].run:
            self.stats.count("skipped")  # the run could not be analyzed: counted in it
            self._run_counts[2] += 1
            return
        if item.run is None or processor is None or processor.run != item.run:
            self.stats.count("outside_run")
            self.stats.count("skipped")
            self._run_counts[2] += 1
            return
        if item.event is None:  # dropped by the MIDAS loop: the analyzer was behind
            self.stats.count("skipped")
            self._run_counts[2] += 1
            return
        self._ensure_engine(self.current_params())
        self._flush_now_and_then(processor)
        try:
            event = decode(item.run, item.event)
        except Exception as exc:
            log.warning("run %d: malformed event skipped: %s", item.run, exc)
            self.stats.count("malformed")
            self.stats.count("skipped")
            self._run_counts[2] += 1
            return
        summary = processor.summary
        before = (summary.reconstructed, summary.clusters, summary.skipped)
        try:
            processor.process(event)
        except Exception as exc:  # the run is failed (RunProcessor.abort); say it once
            self._failed = (summary, f"{type(exc).__name__}: {exc}")
            self.stats.count("skipped")
            self._run_counts[2] += 1
            self.on_error(f"online analyzer: run {item.run} not analyzed: {exc}")
            return
        images = summary.reconstructed - before[0]
        skipped = summary.skipped - before[2]
        if skipped and not images:
            self.stats.count("skipped")
            self._run_counts[2] += 1
            return
        self._run_counts[1] += 1
        self.stats.analyzed_event(time.monotonic() - item.received_at, images,
                                  summary.clusters - before[1])

    def _flush_now_and_then(self, processor: RunProcessor) -> None:
        """Results reach SQL every `flush_interval_s`, not only at the end of the run."""
        now = time.monotonic()
        if now - self._last_flush >= self.flush_interval_s and self.sinks is not None:
            self._last_flush = now
            processor.call_in_writer(self.sinks.sql.flush)

    def _idle(self) -> None:
        """Nothing to process: retry spooled SQL batches now and then (a database back after
        an outage gets them even when no event and no run end comes)."""
        sinks = self.sinks
        now = time.monotonic()
        if sinks is None or now - self._last_flush < self.flush_interval_s:
            return
        if sinks.backlog()["sql_spooled_batches"] == 0:
            return
        self._last_flush = now
        processor = self.processor
        if processor is not None and processor.run is not None:
            processor.call_in_writer(sinks.sql.flush)  # the writer alone drives the sinks
        else:
            sinks.sql.drain()  # no run: no writer thread, this thread is the only user

    def _end(self, item: RunEnd) -> None:
        processor = self.processor
        if self._failed is not None and self._failed[0].run == item.run:
            self._end_failed(item)
            return
        if processor is None or processor.run != item.run:
            return
        seen, analyzed, skipped = self._run_counts
        error = None
        try:
            summary = processor.end_run(item.odb, problem=item.problem)
        except Exception as exc:
            summary = processor.summary
            error = f"{type(exc).__name__}: {exc}"
        self.processor = None
        report = RunReport(summary, seen, analyzed, skipped, error)
        if summary.pedestal_run and self.sinks is not None:
            report.pedestal_stats = self._pedestal_stats(summary.run)
        if self.on_run_end is not None:
            self.on_run_end(report)

    def _end_failed(self, item: RunEnd) -> None:
        """The end of a run whose processing failed: its Run row gets its stop time and the
        events the run had; the MIDAS loop gets a 'failed' report (Last run, a message)."""
        assert self._failed is not None
        summary, error = self._failed
        self._failed = None
        seen, analyzed, skipped = self._run_counts
        if self.sinks is not None:
            # RunProcessor.abort wrote the counts it had (reco_events, number_of_events)
            self.sinks.end_failed_run(
                summary.run, {**end_of_run_fields(item.odb), "reco_status": "failed",
                              "reco_events": summary.reconstructed, "number_of_events": seen},
                {"reco_events": summary.reconstructed, "number_of_events": summary.triggers})
        if self.on_run_end is not None:
            self.on_run_end(RunReport(summary, seen, analyzed, skipped, error))

    def _pedestal_stats(self, run: int) -> dict[int, dict[str, float]]:
        from cygno_mw.analyzers.pedestal_store import pedestal_statistics
        from cygno_mw.gpu.pedestals import PedestalMaps

        assert self.sinks is not None
        found = {}
        for camera, choice in self.sinks.latest_maps.items():
            if choice.pedestal_run == run and choice.path.exists():
                found[camera] = pedestal_statistics(PedestalMaps.load(choice.path))
        return found

    # -- control from the MIDAS loop -------------------------------------------------------
    def output_backlog(self) -> int:
        processor = self.processor
        pending = processor.writer_backlog if processor is not None else 0
        if self.sinks is not None:
            spool = self.sinks.backlog()
            pending += spool["sql_spooled_batches"] + spool["influx_buffered"]
        return pending

    def output_dropped(self) -> int:
        """SQL rows and InfluxDB points lost for good (spool or buffer full)."""
        if self.sinks is None:
            return 0
        backlog = self.sinks.backlog()
        return backlog["sql_dropped_rows"] + backlog["influx_dropped"]

    def stop(self, timeout: float | None = None, problem: str = STOPPED_MID_RUN) -> None:
        """Process everything queued, then stop the thread.  A run still open then (no
        end-of-run came) is ended as `partial` with `problem`: not all its events were seen."""
        self._stop_problem = problem
        self.backlog.put_all([_CLOSE_OPEN_RUN, _STOP])
        if self.gate is not None:
            self.gate.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._stop.set()
        if self.engine is not None:
            self.engine.close()
        if self.sinks is not None:
            try:
                self.sinks.finish_pass()  # the pass stays `unfinished` if this process dies
            except Exception as exc:
                log.warning("could not mark the pass finished: %s", exc)
            self.sinks.close()
