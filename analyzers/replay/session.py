"""The offline analyzer: MIDAS files through the same processing core as the online one.

    session = ReplaySession(ReplayOptions(output_dir=Path("cygno-out")))
    summary = session.replay("run00042.mid.lz4")   # a RunSummary
    session.close()

Per file: open it (an `s3://` URL is downloaded to `<output_dir>/cache/` first), read the
parameters from its begin-of-run ODB (`/Analyzer/Parameters`, then the config file, then
`--set`), find the pedestal maps, and stream its events (`FileSource`, a reader thread)
into a `RunProcessor`.  Its MD5 checksum is computed meanwhile in another thread.

Pedestal maps, first that applies: the run itself is a pedestal run (its maps are made and
stored); `--pedestal FILE` (maps computed once, cached under the output folder); the latest
earlier pedestal run in the `pedestals` table.  None of these → one PedestalMissingError.

A run's rows replace those of an earlier pass in one transaction at its end, after its Run
row was written at its start as 'running'; a database outage is waited out for
`db_wait_s` (retries with backoff), and a pass that fails leaves the earlier rows as they
were.

Outputs: with no configuration, `./cygno-out/cygno.sqlite` and `./cygno-out/` files; an
output folder given with `-o` moves both unless a database URL is configured (ODB, config
file, `--set output.database_url=...`) or set in `$CYGNO_DB_URL`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.output_params import OutputParams, resolve_output
from cygno_mw.analyzers.parameters import AnalyzerParameters, load_parameters
from cygno_mw.analyzers.pedestal_maker import PedestalMaker
from cygno_mw.analyzers.pedestal_store import (
    PedestalChoice,
    PedestalMissingError,
    missing_pedestal_message,
)
from cygno_mw.analyzers.reco_engine import make_engine
from cygno_mw.analyzers.replay.file_facts import FileFactsTask
from cygno_mw.analyzers.replay.file_source import READ_AHEAD_EVENTS, FileSource
from cygno_mw.analyzers.run_info import is_pedestal_run
from cygno_mw.analyzers.run_processor import RunProcessor, camera_shapes
from cygno_mw.analyzers.s3_access import fetch_input, is_s3_url
from cygno_mw.analyzers.sinks import ResultSinks
from cygno_mw.analyzers.summary import RunSummary
from cygno_mw.errors import ConfigError, CygnoError, UsageError
from cygno_mw.midasfile.reader import MidasFile, open_midas

log = logging.getLogger(__name__)
MAX_WORKERS = 512  # worker processes; more is a typo, not a machine

@dataclass
class ReplayOptions:
    """Everything the command line can say about a replay."""

    config_file: Path | None = None
    overrides: Sequence[str] = ()
    output_dir: Path | None = None
    pedestal_file: str | None = None
    force_pedestal: bool = False  # use a --pedestal file whose ODB says it is no pedestal run
    workers: int = 1
    pass_name: str = "replay"  # the processing pass results go to (--pass)
    db_wait_s: float = 60.0  # how long a database outage is waited out (retries, backoff)
    database_url: str | None = None  # --db: over the configured one
    progress: bool = False
    messages: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))


def check_input(path: str) -> None:
    """A clear message for an input that cannot be a run file."""
    if is_s3_url(path):
        return
    local = Path(path)
    if not local.exists():
        raise CygnoError(f"{path}: no such file")
    if local.is_dir():
        raise UsageError(f"{path} is a folder: give MIDAS files (run*.mid, .mid.gz, .mid.lz4)")


class ReplaySession:
    """Replays files one after the other, reusing sinks and worker processes between them."""

    def __init__(self, options: ReplayOptions) -> None:
        if not 1 <= options.workers <= MAX_WORKERS:
            raise UsageError(f"-j must be 1 to {MAX_WORKERS}, got {options.workers}")
        from cygno_mw.analyzers.outputs.passes import check_pass_name

        check_pass_name(options.pass_name)
        self.options = options
        self._sinks: dict[OutputParams, ResultSinks] = {}
        self._engine: Any = None
        self._engine_key: Any = None
        self._pedestal_file_maps: dict[int, PedestalChoice] | None = None
        self._resolved: dict[tuple[str, int, int], PedestalChoice] = {}

    # -- shared resources ------------------------------------------------------------------
    def sinks_for(self, output: OutputParams) -> ResultSinks:
        sinks = self._sinks.get(output)
        if sinks is None:
            from cygno_mw.analyzers.outputs.database import RetryPolicy

            sinks = ResultSinks(output, pass_name=self.options.pass_name, whole_runs=True,
                                database_url=self.options.database_url,
                                sql_retry=RetryPolicy.for_wait(self.options.db_wait_s))
            sinks.connect()
            self._sinks[output] = sinks
        return sinks

    def engine_for(self, params: AnalyzerParameters, preload: list[Path]) -> Any:
        key = (params.reco, self.options.workers)
        if self._engine is None or self._engine_key != key:
            if self._engine is not None:
                self._engine.close()
            self._engine = make_engine(params.reco, self.options.workers, preload=preload,
                                       say=self.options.messages)
            self._engine_key = key
        return self._engine

    def close(self) -> None:
        try:
            if self._engine is not None:
                self._engine.close()
        finally:
            self._engine = None
            for sinks in self._sinks.values():
                try:
                    sinks.finish_pass()
                finally:
                    sinks.close()
            self._sinks.clear()

    def __enter__(self) -> ReplaySession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one file --------------------------------------------------------------------------
    def parameters(self, odb: Any, source: str = "") -> AnalyzerParameters:
        """The run's parameters: ODB (dump), config file, --set; output folder applied."""
        try:
            params = load_parameters(odb, self.options.config_file, self.options.overrides)
        except ConfigError as exc:
            if source and str(exc).startswith("ODB "):
                raise ConfigError(f"{source}: begin-of-run {exc}") from None
            raise
        return AnalyzerParameters(params.reco,
                                  resolve_output(params.output, self.options.output_dir),
                                  params.pmt)

    def local_path(self, path: str) -> Path:
        check_input(path)
        if not is_s3_url(path):
            return Path(path)
        params = self.parameters(None)
        cache = Path(params.output.output_dir) / "cache" / "s3"
        return fetch_input(path, cache, params.output.s3_endpoint_url or None)

    def replay(self, path: str | Path, input_problem: str | None = None) -> RunSummary:
        """Replay one file into its outputs; returns its summary (partial runs included).
        `input_problem`: what the file lacks that its maker knows of (chunks left out when
        it was assembled): the run is partial, for that reason too."""
        try:
            return self._replay(path, input_problem)
        except OSError as exc:  # a folder we cannot write, a disk that is full...
            where = f" ({exc.filename})" if exc.filename else ""
            raise CygnoError(f"{path}: {exc.strerror or exc}{where}") from None

    def _replay(self, path: str | Path, input_problem: str | None = None) -> RunSummary:
        local = self.local_path(str(path))
        facts = FileFactsTask(local)
        with open_midas(local) as midas:
            run = _run_number(midas)
            params = self.parameters(midas.bor_odb, str(path))
            sinks = self.sinks_for(params.output)
            pedestal_run = is_pedestal_run(midas.bor_odb)
            if not pedestal_run and self.options.pedestal_file is not None:
                # a --pedestal that is missing or refused is refused before anything is
                # written (no pass, no attempt, no Run row)
                self._maps_from_pedestal_file(params, sinks)
            preload = [] if pedestal_run else self._known_maps(params, sinks, run)
            engine = self.engine_for(params, preload)
            sinks.use_pass(self.options.pass_name, params, engine.backend)
            progress = _progress_bar(run, self.options.progress, midas)
            processor = RunProcessor(params, sinks, engine,
                                     pedestals=self._resolver(params, sinks),
                                     on_image=None if progress is None else progress.update)
            processor.begin_run(run, midas.bor_odb, source=str(path),
                                extra_fields={"file_name": Path(str(path)).name})
            source = FileSource(midas, run, max(READ_AHEAD_EVENTS, engine.batch_size))
            try:
                for event in source:
                    processor.process(event)
                file_fields = _file_fields(facts)
                eor_odb = midas.eor_odb  # a broken end-of-run dump fails the run here
                problem = "; ".join(p for p in (input_problem, source.problem) if p) or None
                summary = processor.end_run(eor_odb, problem=problem,
                                            extra_fields=file_fields)
            except BaseException as exc:  # nothing of this attempt is committed
                processor.abort(exc)  # (a no-op when process/end_run aborted already)
                raise
            finally:
                if progress is not None:
                    progress.close()
        if pedestal_run:
            self._resolved.clear()  # the pedestals table has changed
        return summary

    # -- pedestals -------------------------------------------------------------------------
    def _resolver(self, params: AnalyzerParameters,
                  sinks: ResultSinks) -> Callable[[int, int], PedestalChoice]:
        def resolve(run: int, camera: int) -> PedestalChoice:
            key = (sinks.database_text, run, camera)
            if key not in self._resolved:
                self._resolved[key] = find(run, camera)
            return self._resolved[key]

        def find(run: int, camera: int) -> PedestalChoice:
            if self.options.pedestal_file is not None:
                maps = self._maps_from_pedestal_file(params, sinks)
                if camera in maps:
                    return maps[camera]
                raise PedestalMissingError(
                    f"run {run}: --pedestal {self.options.pedestal_file} has no images of "
                    f"camera {camera} (it has cameras {sorted(maps)})")
            from cygno_mw.analyzers.outputs.query import Database

            found = sinks.pedestals.find(Database(sinks.sql.url, engine=sinks.sql.engine,
                                                  retry=sinks.sql.retry), run, camera)
            if found is None:
                raise PedestalMissingError(
                    missing_pedestal_message(run, camera, sinks.database_text))
            return found

        return resolve

    def _known_maps(self, params: AnalyzerParameters, sinks: ResultSinks,
                    run: int) -> list[Path]:
        """Maps worth loading in every worker up front (camera 0's, when it is found)."""
        try:
            return [self._resolver(params, sinks)(run, 0).path]
        except CygnoError:
            return []

    def _maps_from_pedestal_file(self, params: AnalyzerParameters,
                                 sinks: ResultSinks) -> dict[int, PedestalChoice]:
        """Maps of the --pedestal file: from the cache, else computed once and stored."""
        if self._pedestal_file_maps is not None:
            return self._pedestal_file_maps
        path = self.local_path(str(self.options.pedestal_file))
        with open_midas(path) as midas:
            forced = self._check_pedestal_file(midas)
        cached = None if forced else sinks.pedestals.cached_for_file(path)
        if cached is not None:
            self._pedestal_file_maps = cached
            return cached
        self.options.messages(f"computing pedestal maps from {self.options.pedestal_file} "
                              "(once; cached for later replays)" if not forced else
                              f"computing pedestal maps from {self.options.pedestal_file} "
                              "(forced: used by this replay only, never stored)")
        with open_midas(path) as midas:
            run = _run_number(midas)
            maker = PedestalMaker(params.reco.backend, camera_shapes(midas.bor_odb))
            source = FileSource(midas, run)
            last: dict[int, Any] = {}  # each camera's last image (a view, not a copy)
            for event in source:
                for camera, image in _camera_images(event):
                    if maker.add(camera, image, f"{path.name} event {event.serial}: "):
                        last[camera] = image
            if source.problem:
                self.options.messages(f"warning: pedestal file: {source.problem}; using its "
                                      f"{sum(maker.images(c) for c in maker.cameras)} images")
        results = maker.results()
        if not forced:
            forced = self._check_pedestal_images(params, run, results, last)
        name = Path(str(self.options.pedestal_file)).name
        if forced:
            folder = sinks.pedestals.directory / "forced"
            folder.mkdir(parents=True, exist_ok=True)
            stored = {camera: maps.save(folder / f"run{run:05d}_cam{camera}.npz")
                      for camera, maps in results.items()}
            origin = f"{name} (run {run}, not a pedestal run, forced)"
        else:
            stored = {camera: sinks.pedestal(run, camera, maps, now=True)
                      for camera, maps in results.items()}
            sinks.pedestals.remember_file(path, run, stored)
            origin = f"{name} (pedestal run {run})"
        self._pedestal_file_maps = {
            camera: PedestalChoice(camera, Path(map_path), origin, run)
            for camera, map_path in stored.items()}
        return self._pedestal_file_maps

    def _check_pedestal_images(self, params: AnalyzerParameters, run: int,
                               maps: dict[int, Any], last: dict[int, Any]) -> bool:
        """Refuse a --pedestal run whose images hold clusters, unless forced (then True)."""
        from cygno_mw.analyzers.pedestal_check import clusters_in

        for camera in sorted(maps):
            if camera not in last:
                continue
            found = clusters_in(params.reco, maps[camera], last[camera])
            if not found:
                continue
            what = (f"--pedestal {self.options.pedestal_file}: run {run} is marked a pedestal "
                    f"run, but its images hold clusters ({found} in camera {camera}'s last "
                    "image)")
            if not self.options.force_pedestal:
                raise UsageError(f"{what}; give a real pedestal run, or add --force-pedestal "
                                 "to use it anyway (for this replay only: it is never stored "
                                 "as a pedestal run)")
            self.options.messages(f"warning: {what}; used because of --force-pedestal, and "
                                  "not stored")
            return True
        return False

    def _check_pedestal_file(self, midas: MidasFile) -> bool:
        """Refuse a --pedestal file whose ODB does not make it a pedestal run, unless forced
        (then True: its maps serve this replay only and are never stored as a pedestal run)."""
        if is_pedestal_run(midas.bor_odb):
            return False
        if not self.options.force_pedestal:
            raise UsageError(
                f"--pedestal {self.options.pedestal_file}: run {midas.run_number} is not a "
                "pedestal run (its /Configurations/Pedestal is not set), so its images may "
                "hold tracks; give a pedestal run, or add --force-pedestal to use it anyway "
                "(for this replay only: it is never stored as a pedestal run)")
        self.options.messages(f"warning: --pedestal {self.options.pedestal_file}: run "
                              f"{midas.run_number} is not a pedestal run; used because of "
                              "--force-pedestal, and not stored")
        return True


def _camera_images(event: Any) -> list[tuple[int, Any]]:
    from cygno_mw.analyzers.events import camera_images

    return camera_images(event)


def _run_number(midas: MidasFile) -> int:
    run = midas.run_number
    if run is None:
        raise CygnoError(f"{midas.path}: no begin-of-run ODB dump, so no run number")
    return int(run)


def _file_fields(facts: FileFactsTask) -> dict[str, Any]:
    result = facts.result()
    if result is None:
        return {}
    return {"file_size": result.size, "file_checksum": result.md5}


def _progress_bar(run: int, enabled: bool, midas: MidasFile) -> Any:
    """A progress bar on stderr whose total (images) is estimated from the file read, or None."""
    if not enabled:
        return None
    from cygno_mw.progress import FileProgress

    return FileProgress(f"run {run}", midas.path.stat().st_size, midas.bytes_read)
