"""The per-run processing core shared by the offline replay and the online analyzer.

    processor = RunProcessor(params, sinks, engine, pedestals=resolver)
    processor.begin_run(run, bor_odb, extra_fields={"file_name": ...})
    for event in source:                  # DecodedEvents of this run, from anywhere
        processor.process(event)
    summary = processor.end_run(eor_odb, problem=None)

For a live source: `on_result` sees each reconstructed image (displays), `drain()`
finishes a GPU batch that is not full when the stream pauses, `call_in_writer(f)` runs
`f` in order with the writes (e.g. a periodic `sinks.sql.flush`), `switch_reco(params,
engine)` changes the reconstruction between two events, `writer_backlog` says how many
writes wait.  Any exception from `process`/`end_run`/`drain`/`switch_reco` has already
marked the run failed (`abort`) when it reaches you.  Callers use only these public names.

Data flow, one way: the caller's thread decodes and calls `process`; camera images go to
the reconstruction engine (this process, worker processes or a GPU); results, slow-control
readings, pedestal maps and the Run row go through a bounded queue to a writer thread that
alone drives the sinks (SQL, InfluxDB, reco file, S3).

A pedestal run (`/Configurations/Pedestal` true) is not reconstructed: its images are
accumulated into maps per camera, which `end_run` stores (file, S3, `pedestals` row).

`runs.reco_status` as written here:

- `running`  begin_run wrote the row; the run is being processed (or the process died);
- `done`     every event of the run was processed;
- `partial`  the input ended early or was corrupt (`runs.partial` is true too): every
  complete event before the bad part was processed;
- `failed`   processing stopped on an error (e.g. no pedestal map); see the message.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.analyzers.background import SerialWorker
from cygno_mw.analyzers.events import DecodedEvent, camera_images
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.analyzers.pedestal_maker import PedestalMaker
from cygno_mw.analyzers.pedestal_store import PedestalChoice
from cygno_mw.analyzers.reco_engine import ImageJob
from cygno_mw.analyzers.run_info import (
    begin_of_run_fields,
    daq_event_count,
    end_of_run_fields,
    is_pedestal_run,
    utc_time,
)
from cygno_mw.analyzers.sinks import ResultSinks
from cygno_mw.analyzers.slow_control import SlowControlDecoder
from cygno_mw.analyzers.summary import RunSummary
from cygno_mw.analyzers.waveform_analysis import PmtAnalysis, has_pmt_banks
from cygno_mw.errors import CygnoError
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.midasfile.odbdump import odb_get

log = logging.getLogger(__name__)

PedestalResolver = Callable[[int, int], PedestalChoice]
MAX_SKIP_MESSAGES = 5


class _CameraMap:
    """A physics run's pedestal map of one camera: file, shape and the summary numbers the
    Macro rows carry (from the `pedestals` table when known, else computed here)."""

    def __init__(self, choice: PedestalChoice) -> None:
        self.choice = choice
        self.shape = npz_map_shape(choice.path)
        stats = dict(choice.stats or {})
        if not {"pedestal_mean", "pedestal_rms", "noise_mean"} <= set(stats):
            maps = PedestalMaps.load(choice.path)
            stats = {"pedestal_mean": float(maps.mean.mean(dtype=np.float64)),
                     "pedestal_rms": float(maps.mean.std(dtype=np.float64)),
                     "noise_mean": float(maps.sigma.mean(dtype=np.float64))}
        self.stats = stats


def npz_map_shape(path: Path) -> tuple[int, int]:
    """The (rows, cols) of a saved PedestalMaps, read from the header only."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("mean.npy") as member:
            major, _minor = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape = read_header(member)[0]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return PedestalMaps.load(path).shape  # says clearly what is wrong with the file
    if len(shape) != 2:
        return PedestalMaps.load(path).shape
    return int(shape[0]), int(shape[1])


class RunProcessor:
    """Processes the events of one run at a time (see the module docstring)."""

    def __init__(self, params: AnalyzerParameters, sinks: ResultSinks, engine: Any, *,
                 pedestals: PedestalResolver | None = None,
                 on_image: Callable[[int], None] | None = None,
                 on_result: Callable[[ImageJob, Any], None] | None = None,
                 queue_depth: int = 16) -> None:
        self.params = params
        self.sinks = sinks
        self.engine = engine
        self.resolve_pedestal = pedestals
        self.on_image = on_image  # called with 1 per image done (progress bars)
        self.on_result = on_result  # each reconstructed image, in this thread (displays)
        self.queue_depth = queue_depth
        self.run: int | None = None
        self.summary = RunSummary(run=-1)
        self._writer: SerialWorker | None = None
        self._maps: dict[int, _CameraMap] = {}
        self._maker: PedestalMaker | None = None
        self._slow_control = SlowControlDecoder(None)
        self._pmt: PmtAnalysis | None = None
        self._started = 0.0
        self._last_time = 0

    # -- begin -----------------------------------------------------------------------------
    def begin_run(self, run: int, odb: Mapping[str, Any] | None, *,
                  extra_fields: Mapping[str, Any] | None = None, source: str = "") -> None:
        """Start a run: its Run row ('running'), replacing results of an earlier pass."""
        if self.run is not None:
            raise CygnoError(f"run {self.run} is still open; end it before beginning {run}")
        self.run = int(run)
        self._started = time.perf_counter()
        pedestal = is_pedestal_run(odb)
        self.summary = RunSummary(run=self.run, source=source, pedestal_run=pedestal,
                                  backend=self.engine.backend, device=self.engine.device_name)
        self._maps = {}
        self._maker = None
        if pedestal:
            self._maker = PedestalMaker(self.params.reco.backend, camera_shapes(odb))
        self._slow_control = SlowControlDecoder(odb)
        cameras = getattr(self.sinks, "cameras", None)
        self._pmt = None
        if self.params.pmt.enabled and not pedestal and (cameras is None or 0 in cameras):
            self._pmt = PmtAnalysis(self.params.pmt, odb)  # camera 0's process does the PMTs
        self._writer = SerialWorker(self.queue_depth)
        record = {**begin_of_run_fields(self.run, odb), **dict(extra_fields or {}),
                  "reco_status": "running", "partial": False, "reco_events": 0,
                  "reco_backend": self.engine.backend}
        self._writer.submit(self.sinks.begin_run, self.run, record, reconstruct=not pedestal)

    # -- events ----------------------------------------------------------------------------
    def process(self, event: DecodedEvent) -> None:
        """One event of the open run (camera images, slow control; others are counted).

        An exception (a missing pedestal map, a sink that fails) marks the run failed
        (`abort`) and is raised again."""
        try:
            self._process(event)
        except BaseException as exc:
            self.abort(exc)
            raise

    def _process(self, event: DecodedEvent) -> None:
        summary = self.summary
        if event.run != self.run:
            summary.foreign_events += 1
            if summary.foreign_events <= MAX_SKIP_MESSAGES:
                log.warning("event serial %d of run %d reached run %s: not processed",
                            event.serial, event.run, self.run)
            return
        summary.events += 1
        self._last_time = max(self._last_time, int(event.timestamp))
        if self._slow_control.is_slow_control(event.event_id):
            reading = self._slow_control.decode(self.run, event.event_id, event.timestamp,
                                                event.banks)
            if reading is not None:
                summary.slow_control_events += 1
                self._submit(self.sinks.slow_control, reading)
            return
        if self._pmt is not None and has_pmt_banks(event.banks):
            self._analyse_pmt(event)
        images = camera_images(event)
        if images:
            summary.triggers += 1
        for camera, image in images:
            summary.images += 1
            if self._maker is not None:
                self._maker.add(camera, image, f"run {self.run} event {event.serial}: ")
                self._count_image()
                continue
            camera_map = self._camera_map(camera)
            if not _fits(image, camera_map.shape):
                self._skip(event, camera, image, camera_map.shape)
                continue
            job = ImageJob(self.run, camera, event.serial, int(event.timestamp), image,
                           camera_map.choice.path)
            self._emit(self.engine.submit(job))

    def _analyse_pmt(self, event: DecodedEvent) -> None:
        """The event's PMT waveforms to the `pmt` table; a bad bank is logged and counted,
        not fatal (the event's images go on)."""
        assert self._pmt is not None
        try:
            rows = self._pmt.rows(event.banks)
        except CygnoError as exc:
            self.summary.pmt_skipped += 1
            if self.summary.pmt_skipped <= MAX_SKIP_MESSAGES:
                log.warning("run %s event %d: PMT banks not analysed: %s", self.run,
                            event.serial, exc)
            return
        if rows:
            self._submit(self.sinks.pmt, self.run, event.serial, rows)

    def _camera_map(self, camera: int) -> _CameraMap:
        found = self._maps.get(camera)
        if found is None:
            if self.resolve_pedestal is None:
                raise CygnoError(f"run {self.run}: no way to find pedestal maps was given")
            choice = self.resolve_pedestal(self.run, camera)
            found = self._maps[camera] = _CameraMap(choice)
            self.summary.pedestals[camera] = choice.origin
        return found

    def _skip(self, event: DecodedEvent, camera: int, image: np.ndarray,
              shape: tuple[int, int]) -> None:
        self.summary.skipped += 1
        if self.summary.skipped <= MAX_SKIP_MESSAGES:
            size = "x".join(str(n) for n in image.shape)
            log.warning("run %d event %d camera %d: image of %s pixels does not match the "
                        "pedestal map (%dx%d): skipped", self.run, event.serial, camera,
                        size, *shape)
        self._count_image()

    def _emit(self, done: list[tuple[ImageJob, Any]]) -> None:
        for job, result in done:
            summary = self.summary
            summary.reconstructed += 1
            summary.clusters += result.n_clusters
            summary.reco_s += float(result.timings.get("total", 0.0))
            if result.skipped:
                summary.sparks += 1
            stats = self._maps[job.camera].stats if job.camera in self._maps else None
            self._submit(self.sinks.image, job.run, job.camera, job.serial, job.timestamp,
                         result, stats)
            if self.on_result is not None:
                self.on_result(job, result)
            self._count_image()

    def drain(self) -> None:
        """Finish every image the engine still holds (a GPU batch that is not full yet),
        so that nothing waits for more events: call it when the event stream pauses."""
        try:
            self._emit(self.engine.drain())
        except BaseException as exc:
            self.abort(exc)
            raise

    def switch_reco(self, params: AnalyzerParameters, engine: Any) -> Any:
        """Use `params` and `engine` from the next event on: the images the old engine still
        holds are finished and written with the old parameters first.  Returns the old engine
        (the caller closes it).  Allowed between runs too."""
        old = self.engine
        if self.run is not None and engine is not old:
            self.drain()
        self.params, self.engine = params, engine
        return old

    @property
    def writer_backlog(self) -> int:
        """Writes queued for the sinks and not yet done (0 between runs)."""
        writer = self._writer
        return writer.backlog if writer is not None else 0

    def call_in_writer(self, function: Callable[..., Any], *args: Any) -> None:
        """Run `function(*args)` in the writer thread after everything queued so far
        (e.g. `sinks.sql.flush` now and then, so results reach SQL during long runs)."""
        self._submit(function, *args)

    def _count_image(self) -> None:
        if self.on_image is not None:
            self.on_image(1)

    def _submit(self, function: Callable[..., Any], *args: Any) -> None:
        assert self._writer is not None, "begin_run first"
        self._writer.submit(function, *args)

    # -- end -------------------------------------------------------------------------------
    def end_run(self, eor_odb: Mapping[str, Any] | None = None, *,
                problem: str | None = None,
                extra_fields: Mapping[str, Any] | None = None) -> RunSummary:
        """Finish the run: drain the reconstruction, store pedestal maps, complete the Run
        row, wait for every write.  `problem`: why the input ended early (partial run);
        `extra_fields`: more `runs` columns known only now (file size, checksum)."""
        summary = self.summary
        try:
            self._emit(self.engine.drain())
            if self._maker is not None:
                self._store_pedestals()
            summary.partial = problem is not None
            summary.problem = problem
            summary.reco_status = "partial" if summary.partial else "done"
            # the run's event count as the DAQ knows it (frontends' statistics in the
            # end-of-run ODB), else the events the input held; fewer seen: a sampled run
            taken = daq_event_count(eor_odb, getattr(self.sinks, "cameras", None))
            seen = summary.triggers
            if taken is None or taken < seen:
                taken = seen  # (statistics below what arrived are not the run's count)
            record = {
                **end_of_run_fields(eor_odb),
                "number_of_events": taken,
                "skipped_events": max(0, taken - seen),
                "sampled": taken > seen,
                "reco_status": summary.reco_status,
                "partial": summary.partial,
                "reco_events": summary.images if summary.pedestal_run else summary.reconstructed,
                "reco_backend": summary.backend,
                "problem": summary.problem,
                **dict(extra_fields or {}),
            }
            if "stop_time" not in record and self._last_time:
                record["stop_time"] = utc_time(self._last_time)
            self._submit(self._finish, record)
            assert self._writer is not None
            self._writer.close()
        except BaseException as exc:
            self.abort(exc)
            raise
        self._writer = None
        self.run = None
        summary.wall_s = time.perf_counter() - self._started
        return summary

    def _finish(self, record: dict[str, Any]) -> None:
        used = {camera: {"run": found.choice.pedestal_run, "path": str(found.choice.path)}
                for camera, found in self._maps.items()}
        outputs = self.sinks.end_run(self.summary.run, record, pedestals=used)
        self.summary.outputs = outputs
        problem = getattr(outputs, "problem", None)
        if problem:  # an output lost results: the run is not done
            summary = self.summary
            summary.partial = True
            summary.reco_status = "partial"
            summary.problem = f"{summary.problem}; {problem}" if summary.problem else problem

    def _store_pedestals(self) -> None:
        assert self._maker is not None
        self.summary.skipped += self._maker.skipped
        maps = self._maker.results()
        if not maps:
            raise CygnoError(f"pedestal run {self.run} has no camera images: no maps made")
        for camera, camera_maps in maps.items():
            where = self.sinks.pedestals.map_path(self.run, camera)
            self.summary.pedestals[camera] = f"{camera_maps.n_images} images -> {where}"
            self._submit(self.sinks.pedestal, self.run, camera, camera_maps)

    def abort(self, error: BaseException) -> None:
        """Stop the run after an error: its Run row says 'failed'; nothing else is raised."""
        if self.run is None:
            return
        run = self.run
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(raise_error=False)
        self.engine.discard()
        self.summary.reco_status = "failed"
        self.summary.wall_s = time.perf_counter() - self._started
        interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
        reason = "interrupted (Ctrl-C or a stop signal)" if interrupted else \
            (f"{type(error).__name__}: {error}" if not isinstance(error, CygnoError)
             else str(error))
        self.sinks.abort_run(run, {"reco_status": "failed",
                                   "reco_events": self.summary.reconstructed,
                                   "number_of_events": self.summary.triggers},
                             reason=reason, status="interrupted" if interrupted else "failed")
        self.run = None
        log.debug("run %d aborted: %s", run, error)


def camera_shapes(odb: Mapping[str, Any] | None) -> dict[int, tuple[int, int]]:
    """Frame shapes from our camera frontend's settings (`/Equipment/Camera<n>/Settings`:
    ROI width/height, Binning); LIME's ODB has none (full 2304x2304 square frames)."""
    shapes = {}
    equipment = odb_get(odb or {}, "/Equipment", {})
    for name in equipment if isinstance(equipment, Mapping) else ():
        if not (name.startswith("Camera") and name[6:].isdigit()):
            continue
        settings = odb_get(equipment, f"/{name}/Settings", {})
        try:
            binning = max(1, int(settings.get("Binning", 1)))
            shapes[int(name[6:])] = (int(settings["ROI height"]) // binning,
                                     int(settings["ROI width"]) // binning)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return shapes


def _fits(image: np.ndarray, shape: tuple[int, int]) -> bool:
    if image.ndim == 2:
        return tuple(image.shape) == tuple(shape)
    return image.ndim == 1 and image.size == shape[0] * shape[1]
