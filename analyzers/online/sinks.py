"""The replay's `ResultSinks`, made fit for a program that must never stop for a server.

- SQL goes through `SpoolingSqlSink`: while the database is down, batches wait on disk
  (bounded, under `<output_dir>/spool/`) and are written, in order, once it is back;
- pedestal maps made by a pedestal run are remembered in memory, so the next runs use them
  even when the database cannot be asked (then the `pedestals` table, as the replay does);
- the processing pass (`/Analyzer/Online/Pass name`, default `online`) is never refused: when
  that name exists with other parameters, results go to `<name>-<first 8 hex digits of the
  parameters hash>` (the same parameters always get the same name) and the caller is told.
  While the database is down the pass is registered at the end of the run instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.analyzers.outputs.errors import DatabaseUnavailableError
from cygno_mw.analyzers.outputs.passes import DEFAULT_ONLINE_PASS, PassConflictError
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.analyzers.pedestal_store import PedestalChoice, PedestalMissingError
from cygno_mw.analyzers.sinks import ResultSinks
from cygno_mw.gpu.pedestals import PedestalMaps

log = logging.getLogger(__name__)

SPOOL_MAX_BYTES = 1 << 30


class OnlineSinks(ResultSinks):
    """ResultSinks with an on-disk SQL spool and a memory of this process's pedestal maps."""

    def __init__(self, output: OutputParams, *, spool_max_bytes: int = SPOOL_MAX_BYTES,
                 cameras: tuple[int, ...] | None = None, writes_run_row: bool = True,
                 spool_name: str = "", pass_name: str = DEFAULT_ONLINE_PASS) -> None:
        """`cameras`, `writes_run_row`: see ResultSinks (several processes sharing the
        buffer); `spool_name`: this process's own folder under `<output_dir>/spool/`."""
        from cygno_mw.analyzers.outputs.spool import SpoolingSqlSink

        super().__init__(output, cameras=cameras, writes_run_row=writes_run_row,
                         pass_name=pass_name)
        spool_dir = Path(output.output_dir) / "spool"
        if spool_name:
            spool_dir = spool_dir / spool_name
        self.sql = SpoolingSqlSink(self.sql.url, spool_dir=spool_dir,
                                   max_spool_bytes=spool_max_bytes, pass_name=pass_name)
        self.latest_maps: dict[int, PedestalChoice] = {}
        self._unregistered: tuple[str, AnalyzerParameters, str | None] | None = None

    def use_pass(self, name: str, params: AnalyzerParameters, backend: str | None) -> str:
        """The pass results go to: `name`, or its parameter-hash variant on a conflict."""
        try:
            used = super().use_pass(name, params, backend)
        except PassConflictError:
            from cygno_mw.analyzers.provenance import pass_record

            digest = str(pass_record(params, backend)["parameters_hash"])[:8]
            used = super().use_pass(f"{name[:55]}-{digest}", params, backend)
        except DatabaseUnavailableError as exc:
            log.warning("pass %r not registered yet (database unavailable: %s); trying again "
                        "at the end of the run", name, exc)
            self.sql.set_pass(name)
            self._unregistered = (name, params, backend)
            return name
        self._unregistered = None
        return used

    def end_run(self, run: int, record: Any, pedestals: Any = None) -> Any:
        if self._unregistered is not None:
            try:
                self.use_pass(*self._unregistered)
            except Exception as exc:  # still down: the run's rows are spooled all the same
                log.warning("pass %r still not registered: %s", self._unregistered[0], exc)
        return super().end_run(run, record, pedestals)

    def pedestal(self, run: int, camera: int, maps: PedestalMaps) -> Path:
        path = super().pedestal(run, camera, maps)
        self.latest_maps[int(camera)] = PedestalChoice(
            int(camera), path, f"pedestal run {run} (taken online)", int(run))
        return path

    def find_pedestal(self, run: int, camera: int) -> PedestalChoice:
        """The latest pedestal map before `run`: made by this process, else from SQL."""
        known = self.latest_maps.get(int(camera))
        if known is not None and (known.pedestal_run or 0) < run and known.path.exists():
            return known
        from cygno_mw.analyzers.outputs.query import Database

        try:
            found = self.pedestals.find(Database(self.sql.url, engine=self.sql.engine),
                                        run, camera)
        except Exception as exc:  # database down: no map rather than a crash
            log.warning("pedestal lookup failed: %s", exc)
            found = None
        if found is None:
            raise PedestalMissingError(online_missing_pedestal_message(run, camera,
                                                                       self.database_text))
        self.latest_maps.setdefault(int(camera), found)
        return found

    def end_failed_run(self, run: int, record: dict[str, Any],
                       already_added: dict[str, int]) -> None:
        """Complete the Run row of a run whose processing failed (RunProcessor.abort wrote
        it once): its stop time and counters.  When processes share the run, the counters
        are added, so only what the first write did not count is added now."""
        from cygno_mw.analyzers.outputs.sql_writer import RUN_COUNTS

        if self.shares_run:
            record = {**record, **{name: int(record[name]) - int(already_added.get(name, 0))
                                   for name in RUN_COUNTS if name in record}}
            self._counts_added = None
        self.abort_run(run, record)

    def backlog(self) -> dict[str, int]:
        """What waits to be written: spooled SQL batches, buffered InfluxDB points."""
        spool = self.sql.stats()
        influx: dict[str, Any] = self.influx.stats() if self.influx is not None else {}
        return {"sql_spooled_batches": int(spool["spooled_batches"]),
                "sql_dropped_rows": int(spool["dropped_rows"]),
                "influx_buffered": int(influx.get("buffered", 0)),
                "influx_dropped": int(influx.get("dropped", 0))}


def online_missing_pedestal_message(run: int, camera: int, database_text: str) -> str:
    """What the shift crew reads when a physics run starts before any pedestal run."""
    return (f"run {run}, camera {camera}: no pedestal map yet (no pedestal run before run "
            f"{run} in {database_text}), so this run is not analyzed. Take a pedestal run "
            "first: set /Configurations/Pedestal to y, start and stop a short run with the "
            "camera dark, set it back to n; the runs after it are analyzed with its maps.")
