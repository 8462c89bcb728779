"""Every place a run's results go, behind one object that the writer thread drives.

- SQL (always; the embedded default is SQLite under the output folder): the Run row, Reco
  and Macro rows per image, Slow Control samples, pedestal summaries;
- InfluxDB points for Grafana when `Output/influx_url` is set (per image, per pedestal map,
  per slow-control reading, and the 55Fe light-yield monitor's windows, `fe55_monitor`);
- the per-run reco file (Parquet or ROOT) under `<output_dir>/reco/`, copied to S3 when
  `Output/s3_bucket` is set (as are pedestal maps).

Every result belongs to a processing pass (`use_pass` in pass_attempts.py, see
analyzers/outputs/passes.py): its `passes` row is registered before the first run, each run
gets a `pass_runs` row (running, then done/partial/failed, with the pedestal maps used), and
the reco file carries the same provenance in its metadata.

Every method is called from one thread (the writer); none is thread-safe on its own.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.fe55_monitor import Fe55Monitor, Fe55Point
from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.analyzers.outputs.passes import DEFAULT_REPLAY_PASS, utc_now
from cygno_mw.analyzers.pass_attempts import PassAttempts
from cygno_mw.analyzers.pedestal_store import PedestalStore
from cygno_mw.analyzers.reco_file import RecoFileWriter, reco_file_name
from cygno_mw.analyzers.s3_access import output_store
from cygno_mw.analyzers.slow_control import SlowControlReading
from cygno_mw.analyzers.written_outputs import WrittenOutputs
from cygno_mw.gpu.pedestals import PedestalMaps

log = logging.getLogger(__name__)
# Run-row columns that report processing: set from the run's best finished pass (see
# analyzers/outputs/run_record.py), never by an attempt that did not finish.
RECO_FIELDS = ("reco_status", "reco_events", "reco_backend", "partial")
INFLUX_RUN_FLUSH_S = 10.0  # a replayed run waits this long for its InfluxDB points


class ResultSinks(PassAttempts):
    """SQL + optional InfluxDB + reco file + optional S3 for one output configuration.

    Several processes can share a run (the online analyzer partitioned by camera):
    `cameras` are the cameras this one reconstructs (None: all), so that a re-processing
    replaces only their rows and the reco file is named after them; `writes_run_row` False
    leaves the Run row to the one process that writes it.  The Run row's counters
    (`reco_events`, `number_of_events`) are then totals over the processes: when `cameras`
    is set, the writer resets them to 0 at begin-of-run (written at once) and every
    process, the writer included, adds its own at end-of-run (SqlSink.add_run_counts)."""

    def __init__(self, output: OutputParams, *, database_url: str | None = None,
                 cameras: tuple[int, ...] | None = None, writes_run_row: bool = True,
                 pass_name: str = DEFAULT_REPLAY_PASS, whole_runs: bool = False,
                 sql_retry: Any = None) -> None:
        from cygno_mw.analyzers.outputs.credentials import safe_url
        from cygno_mw.analyzers.outputs.sql_writer import SqlSink

        self.output = output
        self.output_dir = Path(output.output_dir)
        # whole_runs (replay): a run's rows are committed together with the removal of its
        # earlier rows at end-of-run, so a failed pass never loses the previous one; the
        # Run row is written at once ('running') so a killed replay leaves a trace.
        self.whole_runs = whole_runs
        kwargs: dict[str, Any] = {"retry": sql_retry, "pass_name": pass_name}
        if whole_runs:
            kwargs["batch_rows"] = 1 << 62
        self.sql = SqlSink(database_url or output.database_url, **kwargs)
        self.database_text = safe_url(self.sql.url)
        self.s3 = output_store(output)
        self.pedestals = PedestalStore(self.output_dir, self.s3)
        self.influx: Any = None
        self.fe55 = Fe55Monitor()
        if output.influx_url:
            from cygno_mw.analyzers.outputs.influx_sink import InfluxSink

            self.influx = InfluxSink(output.influx_url, bucket=output.influx_bucket,
                                     org=output.influx_org, token_env=output.influx_token_env)
        self._reco_file: RecoFileWriter | None = None
        self._written: WrittenOutputs | None = None
        self._run_start: Any = None
        self._influx_before: dict[str, Any] | None = None
        self.cameras = None if cameras is None else tuple(sorted({int(c) for c in cameras}))
        self.writes_run_row = writes_run_row
        self._counts_added: int | None = None  # the run whose counts this process added

    @property
    def shares_run(self) -> bool:
        """Several processes may share each run (this one has a share of the cameras)."""
        return self.cameras is not None

    def connect(self) -> None:
        """Reach the database now (creating or upgrading its tables) so errors come early,
        and close the attempts a killed process of this host left `running`."""
        _ = self.sql.engine
        if self.settles_run_row:
            self.sql.close_dead_attempts(socket.gethostname())

    # -- one run ---------------------------------------------------------------------------
    def begin_run(self, run: int, record: Mapping[str, Any], *, reconstruct: bool) -> None:
        """Replace any earlier results of `run` (of this process's cameras) and write its Run
        row as 'running' (when this process writes it)."""
        self._written = WrittenOutputs(self.database_text,
                                       influx=self.output.influx_url or None,
                                       pass_name=self.pass_name)
        self._influx_before = None if self.influx is None else self.influx.stats()
        self._run_start = record.get("start_time")  # time of the run's pedestal points
        self._counts_added = None
        if self.whole_runs and self.settles_run_row:
            # the earlier results stay until this attempt commits its own: the Run row keeps
            # reporting them, the attempt is recorded at once (a killed replay leaves a trace)
            daq = {k: v for k, v in record.items() if k not in RECO_FIELDS}
            self.sql.write_runs([{**daq, "run": int(run)}])
            self._record_attempt(run, "running", start=True)
            from cygno_mw.analyzers.provenance import source_revision

            self.sql.keep_finished_pass_run(
                run, status="running", backend=record.get("reco_backend"),
                started_at=utc_now(), finished_at=None, host=socket.gethostname(),
                revision=source_revision())
            self.sql.settle_run(run, "running", 0)
            self.sql.flush()
            self.sql.begin_run(run, mark_running=False)
            self._start_reco_file(run, reconstruct)
            return
        if self.cameras is None:
            self.sql.begin_run(run)
        for camera in self.cameras or ():
            self.sql.begin_run(run, camera)
        if self.writes_run_row:
            self._record_attempt(run, "running", start=True)
            if self.shares_run:  # the others add to these counters: reset them, right now
                from cygno_mw.analyzers.outputs.sql_writer import RUN_COUNTS

                record = {**record, **{name: 0 for name in RUN_COUNTS}}
            if self.whole_runs:
                self.sql.write_now("runs", [{**record, "run": int(run)}])
            else:
                self.sql.write_runs([{**record, "run": int(run)}])
            self._pass_run(run, status="running", backend=record.get("reco_backend"),
                           started_at=utc_now(), finished_at=None, pedestals=None)
            if self.shares_run:
                self.sql.flush()
        self._start_reco_file(run, reconstruct)

    def _start_reco_file(self, run: int, reconstruct: bool) -> None:
        fmt = self.output.reco_file_format
        if reconstruct and fmt != "none":
            path = self.output_dir / "reco" / self._reco_file_name(run, fmt)
            self._reco_file = RecoFileWriter(path, fmt)

    def _reco_file_name(self, run: int, fmt: str) -> str:
        """run00012_reco_<pass>.parquet; run00012_reco_cam0_1_<pass>.parquet for a share of
        the cameras."""
        if self.cameras is None:
            return reco_file_name(run, fmt, self.pass_name)
        path = Path(reco_file_name(run, fmt))
        cameras = "_".join(str(c) for c in self.cameras)
        return f"{path.stem}_cam{cameras}_{self.pass_name}{path.suffix}"

    def image(self, run: int, camera: int, event: int, timestamp: int, result: Any,
              pedestal: Mapping[str, float] | None = None) -> None:
        """One reconstructed image."""
        from cygno_mw.analyzers.run_info import utc_time

        stats = pedestal or {}
        self.sql.write_event(run, event, camera, result, time=utc_time(timestamp),
                             backend=result.backend,
                             pedestal_mean=stats.get("pedestal_mean"),
                             pedestal_rms=stats.get("pedestal_rms"),
                             noise_mean=stats.get("noise_mean"))
        if self._reco_file is not None:
            self._reco_file.add(run, camera, event, timestamp, result)
        if self.influx is not None:
            light = float(result.clusters["sc_integral"].sum()) if result.n_clusters else 0.0
            self.influx.write_reco(run, camera, result.image, time=float(timestamp),
                                   processing_time_s=result.timings.get("total"),
                                   cluster_light=light)
            self._write_fe55(self.fe55.add(run, camera, float(timestamp), result.clusters))

    def _write_fe55(self, points: list[Fe55Point]) -> None:
        for point in points:
            self.influx.write_fe55(point.run, point.camera, time=point.time, peak=point.peak,
                                   width=point.width, clusters=point.clusters)

    def pmt(self, run: int, event: int, rows: list[dict[str, Any]]) -> None:
        """One event's PMT analysis (`pmt` table rows)."""
        self.sql.write_pmt(run, event, rows)

    def slow_control(self, reading: SlowControlReading) -> None:
        self.sql.write_slow_control(reading.samples())
        if self.influx is not None:
            self.influx.write_slow_control(reading.equipment, reading.values, run=reading.run,
                                           time=reading.time)

    def pedestal(self, run: int, camera: int, maps: PedestalMaps, *, now: bool = False) -> Path:
        """Store a pedestal run's map (file, S3) and its `pedestals` row (`now`: committed
        at once, not with the run's results); returns the file."""
        row = self.pedestals.save(run, camera, maps)
        if now:
            self.sql.write_now("pedestals", [self.sql.pedestal_record(run, camera, **row)])
        else:
            self.sql.write_pedestal(run, camera, **row)
        if self.influx is not None:
            stats = {k: row[k] for k in ("pedestal_mean", "pedestal_rms", "noise_mean",
                                         "noise_rms", "hot_pixels")}
            self.influx.write_image_quality(run, camera, time=self._run_start, **stats)
        if self._written is not None:
            self._written.pedestal_maps[camera] = row["map_location"]
        return self.pedestals.map_path(run, camera)

    def end_run(self, run: int, record: Mapping[str, Any],
                pedestals: Mapping[int, Mapping[str, Any]] | None = None) -> WrittenOutputs:
        """Finish the reco file (and upload it), complete the Run row and the pass's row of
        the run, flush the database. `pedestals`: per camera, the map used ({"run",
        "path"}), recorded with its SHA-256."""
        written = self._written or WrittenOutputs(self.database_text)
        used = self._pedestal_identities(pedestals)
        if self._reco_file is not None and self.pass_row is not None:
            from cygno_mw.analyzers.provenance import file_provenance

            self._reco_file.provenance = file_provenance(self.pass_row, run, used,
                                                         backend=record.get("reco_backend"))
        if self._reco_file is not None:
            path = self._reco_file.close()
            written.reco_file = str(path)
            self._reco_file = None
            if self.s3 is not None:
                written.reco_file = self.s3.upload(path, int(run), path.name).url
        if self.influx is not None:
            self._write_fe55(self.fe55.end_run(run))
        if self.whole_runs and self.influx is not None:
            lost = self._influx_account(written)
            if lost:
                record = {**record, "reco_status": "partial", "partial": True}
        status = record.get("reco_status", "done")
        if self.settles_run_row:
            self._complete_run_row(run, {k: v for k, v in record.items()
                                         if k not in RECO_FIELDS})
        else:
            self._complete_run_row(run, record)
        if self.writes_run_row:
            self._pass_run(run, status=status, backend=record.get("reco_backend"),
                           finished_at=utc_now(), reco_events=record.get("reco_events"),
                           skipped_events=record.get("skipped_events"),
                           pedestals=json.dumps(used, sort_keys=True) if used else None)
            self._record_attempt(run, status, written.problem or record.get("problem"))
        if self.settles_run_row:
            self.sql.settle_run(run, status, record.get("reco_events"))
        self.sql.flush()
        if self.influx is not None and not self.whole_runs:
            self.influx.flush(timeout=10.0)
        self._written = None
        return written

    def _influx_account(self, written: WrittenOutputs) -> int:
        """Wait for this run's points; note written / not written; the number lost."""
        self.influx.flush(timeout=INFLUX_RUN_FLUSH_S)
        return written.account_influx(self._influx_before or {}, self.influx.stats(),
                                      self.output.influx_url)

    def abort_run(self, run: int, record: Mapping[str, Any], *, reason: str | None = None,
                  status: str = "failed") -> None:
        """After an error: drop the unfinished reco file, record the attempt (`status`
        failed or interrupted, `reason`) and how the run stands.  In a replay (whole runs)
        nothing of the attempt is committed: the earlier results, their `pass_runs` row
        and the Run row's status stay as they were (see analyzers/outputs/run_record.py)."""
        if self._reco_file is not None:
            self._reco_file.abort()
            self._reco_file = None
        self.fe55.end_run(run)  # an unfinished window: no estimate
        if self.whole_runs:
            self.sql.discard_run(run)  # the previous pass's rows stay
        try:
            if self.whole_runs and self.settles_run_row:
                # only what the DAQ says (stop time) goes to the Run row; no count of events
                # this attempt happened to see
                daq = {k: v for k, v in record.items()
                       if k not in RECO_FIELDS and k != "number_of_events"}
                self._complete_run_row(run, daq)
                self.sql.keep_finished_pass_run(run, status="failed", finished_at=utc_now())
            else:
                self._complete_run_row(run, record)
                if self.writes_run_row:
                    self._pass_run(run, status="failed", finished_at=utc_now())
            if self.writes_run_row:
                self._record_attempt(run, status, reason)
            if self.settles_run_row:  # (a replay committed nothing: 0 events of its own)
                self.sql.settle_run(run, "failed",
                                    0 if self.whole_runs else record.get("reco_events"))
            self.sql.flush()
        except Exception as exc:  # the first error is the one to report
            log.error("run %d: could not record the failure in the database: %s", run, exc)

    def _complete_run_row(self, run: int, record: Mapping[str, Any]) -> None:
        """The writer sets the Run row's columns; with shared runs, the counters are added
        (once per run and process) instead of set."""
        fields = {k: v for k, v in record.items() if k not in ("run", "problem")}
        if self.shares_run:
            from cygno_mw.analyzers.outputs.sql_writer import RUN_COUNTS

            counts = {name: fields.pop(name) for name in RUN_COUNTS if name in fields}
            if counts and self._counts_added != int(run):
                self.sql.add_run_counts(run, **counts)
                self._counts_added = int(run)
        if self.writes_run_row:
            self.sql.update_run(run, **fields)

    def _pedestal_identities(self, pedestals: Mapping[int, Mapping[str, Any]] | None,
                             ) -> dict[str, dict[str, Any]]:
        used: dict[str, dict[str, Any]] = {}
        for camera, info in sorted((pedestals or {}).items()):
            entry = {"run": info.get("run")}
            path = info.get("path")
            if path is not None and Path(path).is_file():
                entry["sha256"] = self.pedestals.map_sha256(Path(path))
            used[str(camera)] = entry
        return used

    def close(self) -> None:
        try:
            self.sql.close()
        finally:
            if self.influx is not None:  # a replay waited for each run's points already
                self.influx.close(timeout=INFLUX_RUN_FLUSH_S if self.whole_runs else 10.0)

