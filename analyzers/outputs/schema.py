"""The SQL tables, in SQLAlchemy Core: one schema for SQLite (the embedded default) and MariaDB.

This module is the current shape; `migrations/` holds the versions that build it step by step
on a deployed database (a test checks that the two agree). Times are UTC, stored without a zone
(DATETIME with microseconds on MariaDB). Floating-point values are DOUBLE so that what is read
back is exactly what was written.

Tables and their keys:
- `runs`         one row per run                      PK (run)
- `slow_control` one row per sample                   PK (variable, equipment, time, run)
- `reco`         one row per cluster                  PK (pass_name, run, camera, event, cluster)
- `macro`        one row per event and camera         PK (pass_name, run, camera, event)
- `pedestals`    one row per pedestal map             PK (run, camera)
- `passes`       one row per processing pass          PK (pass_name)
- `pass_runs`    one row per pass and run             PK (pass_name, run)
- `pmt`          one row per PMT waveform and peak    PK (pass_name, run, event, board,
                                    pmt_wf_trigger, pmt_wf_channel, pmt_peak_Number)
- `chunks`       one row per uploaded chunk file      PK (run, sequence)
- `attempts`     one row per attempt at a run in a pass  PK (attempt)
`camera` is the camera's index (n of its CAMn bank); 0 for LIME's single camera.
Every `reco` and `macro` row belongs to one processing pass (`pass_name`, see `passes`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

SCHEMA_VERSION = "0008_experiment_profiles"

metadata = sa.MetaData()

# DOUBLE and microsecond timestamps everywhere (MySQL's plain FLOAT/DATETIME would round).
Double = sa.Double()
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# Cluster variables returned by the reconstruction (gpu/cluster_variables.py): the first
# fourteen with the names and meanings of the experiment's reco tree, then ours (0004).
CLUSTER_INT_VARIABLES: tuple[str, ...] = ("sc_nhits", "sc_size")
CLUSTER_VARIABLES: tuple[str, ...] = (
    "sc_integral", "sc_corrintegral", "sc_nhits", "sc_size", "sc_rms", "sc_xmean", "sc_ymean",
    "sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax", "sc_theta", "sc_length", "sc_width",
    "sc_rawintegral", "sc_theta_major", "sc_longwrms", "sc_latwrms", "sc_xycorr",
    "sc_lprofsigma", "sc_tprofsigma",
    # the experiment's profile variables (0008)
    "sc_longrms", "sc_latrms", "sc_lfullrms", "sc_tfullrms", "sc_pearson",
    "sc_lgaussamp", "sc_lgaussmean", "sc_lgausssigma", "sc_lchi2", "sc_lstatus",
    "sc_tgaussamp", "sc_tgaussmean", "sc_tgausssigma", "sc_tchi2", "sc_tstatus",
    "sc_lp0amplitude", "sc_lp0prominence", "sc_lp0fwhm", "sc_lp0mean", "sc_tp0fwhm",
)

# Header of the experiment's Run table (runlog CSV) -> our column. Everything else is ours.
RUNLOG_COLUMNS: dict[str, str] = {
    "run_number": "run",
    "run_description": "description",
    "start_time": "start_time",
    "exposure_sec": "exposure_s",
    "GEM3_V": "gem3_v",
    "GEM2_V": "gem2_v",
    "GEM1_V": "gem1_v",
    "T2_V": "t2_v",
    "T1_V": "t1_v",
    "DRIFT_V": "drift_v",
    "OFFSET_V": "offset_v",
    "PMT1_V": "pmt1_v",
    "PMT2_V": "pmt2_v",
    "PMT3_V": "pmt3_v",
    "PMT4_V": "pmt4_v",
    "HV_STATE": "hv_state",
    "total_gas_flow": "total_gas_flow",
    "stop_time": "stop_time",
    "number_of_events": "number_of_events",
    "storage_local_status": "storage_local_status",
    "storage_cloud_status": "storage_cloud_status",
    "storage_tape_status": "storage_tape_status",
    "file_size": "file_size",
    "file_checksum": "file_checksum",
    "file_s3_tag": "file_s3_tag",
    "online_reco_status": "online_reco_status",
}

runs = sa.Table(
    "runs", metadata,
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    # -- the experiment's Run table ---------------------------------------------------------
    sa.Column("description", sa.Text),
    sa.Column("start_time", Timestamp),
    sa.Column("stop_time", Timestamp),
    sa.Column("exposure_s", Double),
    sa.Column("gem3_v", Double),
    sa.Column("gem2_v", Double),
    sa.Column("gem1_v", Double),
    sa.Column("t2_v", Double),
    sa.Column("t1_v", Double),
    sa.Column("drift_v", Double),
    sa.Column("offset_v", Double),
    sa.Column("pmt1_v", Double),
    sa.Column("pmt2_v", Double),
    sa.Column("pmt3_v", Double),
    sa.Column("pmt4_v", Double),
    sa.Column("hv_state", sa.SmallInteger),
    sa.Column("total_gas_flow", Double),
    sa.Column("number_of_events", sa.Integer),
    sa.Column("storage_local_status", sa.SmallInteger),
    sa.Column("storage_cloud_status", sa.SmallInteger),
    sa.Column("storage_tape_status", sa.SmallInteger),
    sa.Column("file_size", sa.BigInteger),
    sa.Column("file_checksum", sa.String(64)),
    sa.Column("file_s3_tag", sa.String(64)),
    sa.Column("online_reco_status", sa.SmallInteger),
    # -- ours ---------------------------------------------------------------------------------
    sa.Column("file_name", sa.String(255)),
    sa.Column("partial", sa.Boolean, comment="run file ended early or was cut"),
    sa.Column("reco_status", sa.String(16), comment="none | running | done | failed"),
    sa.Column("reco_events", sa.Integer, comment="events reconstructed so far"),
    sa.Column("reco_backend", sa.String(16)),
    sa.Column("updated_at", Timestamp),
    # -- the record (0007): which pass the status reports, and the run's coverage ------------
    sa.Column("reco_pass", sa.String(64), comment="the pass reco_status/reco_events report"),
    sa.Column("skipped_events", sa.Integer, comment="events taken but not analyzed (sampled)"),
    sa.Column("sampled", sa.Boolean, comment="the analysis saw only part of the events"),
    sa.Index("ix_runs_start_time", "start_time"),
)

slow_control = sa.Table(
    "slow_control", metadata,
    sa.Column("variable", sa.String(128), primary_key=True),
    sa.Column("equipment", sa.String(64), primary_key=True),
    sa.Column("time", Timestamp, primary_key=True),
    # two runs never share a row, even with equal times; 0 = outside any run
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False,
              server_default=sa.text("0")),
    sa.Column("value", Double),
    sa.Index("ix_slow_control_time", "time"),
    sa.Index("ix_slow_control_run", "run"),
)

reco = sa.Table(
    "reco", metadata,
    sa.Column("pass_name", sa.String(64), primary_key=True),  # -- processing passes (0003)
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("cluster", sa.Integer, primary_key=True, autoincrement=False),
    *(sa.Column(name, sa.Integer if name in CLUSTER_INT_VARIABLES else Double)
      for name in CLUSTER_VARIABLES),
)

macro = sa.Table(
    "macro", metadata,
    sa.Column("pass_name", sa.String(64), primary_key=True),  # -- processing passes (0003)
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("time", Timestamp),
    sa.Column("nclusters", sa.Integer),
    sa.Column("cmos_integral", Double, comment="total light in the image"),
    sa.Column("cmos_mean", Double),
    sa.Column("cmos_rms", Double),
    sa.Column("pedestal_mean", Double),
    sa.Column("pedestal_rms", Double),
    sa.Column("noise_mean", Double),
    sa.Column("processing_time_s", Double),
    sa.Column("backend", sa.String(16)),
    sa.Column("timings", sa.Text, comment="JSON: seconds per reconstruction step",
              info={"json_floats": True}),  # read back as one float column per key
    sa.Index("ix_macro_time", "time"),
)

pedestals = sa.Table(
    "pedestals", metadata,
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("n_images", sa.Integer),
    sa.Column("pedestal_mean", Double),
    sa.Column("pedestal_rms", Double, comment="spread of the per-pixel means"),
    sa.Column("noise_mean", Double),
    sa.Column("noise_median", Double),
    sa.Column("noise_rms", Double, comment="spread of the per-pixel noise"),
    sa.Column("hot_pixels", sa.Integer),
    sa.Column("map_location", sa.String(1024), comment="local path or s3:// URL"),
    sa.Column("map_sha256", sa.String(64)),
    sa.Column("created_at", Timestamp),
)

# -- processing passes (migration 0003) ------------------------------------------------------
LEGACY_PASS = "legacy"  # rows written before passes existed
PASS_STATUSES = ("unfinished", "finished", "failed")  # passes.status
PASS_RUN_STATUSES = ("running", "done", "partial", "failed")  # pass_runs.status

passes = sa.Table(
    "passes", metadata,
    sa.Column("pass_name", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), comment="unfinished | finished | failed"),
    sa.Column("version", sa.String(64), comment="cygno-mw package version"),
    sa.Column("revision", sa.String(128), comment="git describe of the source, else version"),
    sa.Column("parameters", sa.Text, comment="JSON: the full analyzer parameters"),
    sa.Column("parameters_hash", sa.String(64),
              comment="sha256 of what changes results: Reco parameters and vignetting map"),
    sa.Column("backend", sa.String(16)),
    sa.Column("vignette_map", sa.String(1024), comment="as configured"),
    sa.Column("vignette_sha256", sa.String(64), comment="content of the map used"),
    sa.Column("started_by", sa.String(64)),
    sa.Column("host", sa.String(255)),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("updated_at", Timestamp),
)

pass_runs = sa.Table(
    "pass_runs", metadata,
    sa.Column("pass_name", sa.String(64), primary_key=True),
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), comment="running | done | partial | failed"),
    sa.Column("backend", sa.String(16)),
    sa.Column("revision", sa.String(128), comment="source revision that processed the run"),
    sa.Column("pedestals", sa.Text,
              comment="JSON: per camera, the pedestal run and map sha256 used"),
    sa.Column("host", sa.String(255)),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("reco_events", sa.Integer, comment="images reconstructed in this pass"),
    sa.Column("skipped_events", sa.Integer,
              comment="events of the run this pass did not analyze"),
    sa.Index("ix_pass_runs_run", "run"),
)

# -- attempts (0007): every try at a run in a pass, however it ended ------------------------
ATTEMPT_STATUSES = ("running", "done", "partial", "failed", "interrupted")

attempts = sa.Table(
    "attempts", metadata,
    sa.Column("attempt", sa.String(32), primary_key=True),
    sa.Column("pass_name", sa.String(64), nullable=False),
    sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
    sa.Column("status", sa.String(16),
              comment="running | done | partial | failed | interrupted"),
    sa.Column("reason", sa.Text, comment="why it failed, was interrupted or is partial"),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer, autoincrement=False),
    sa.Column("revision", sa.String(128)),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Index("ix_attempts_run", "run"),
)

# PMT results (0005): the experiment's pmt_* variables under its names, in its units.
PMT_COLUMNS: tuple[tuple[str, sa.types.TypeEngine, str], ...] = (
    ("model", sa.Integer, "digitizer model: 1742 (fast) or 1720 (slow)"),
    ("pmt_wf_sampling", sa.Integer, "samples per waveform (1024 fast, 4000 slow)"),
    ("pmt_wf_TTT", Double, "trigger time tag (board clock counts)"),
    ("pmt_wf_baseline", Double, "mean of the baseline samples after inversion and moving "
                                "average (ADC counts)"),
    ("pmt_wf_RMS", Double, "rms of the same samples (ADC counts)"),
    ("pmt_wf_tot_integral", Double, "sum of the processed waveform (ADC counts x samples)"),
    ("pmt_wf_max_ampl", Double, "maximum of the processed waveform (ADC counts)"),
    ("pmt_wf_nPeaks", sa.Integer, "peaks found in the waveform"),
    ("pmt_TOT_time", Double, "time over 5 x rms of the processed waveform (samples; 0008)"),
    ("pmt_TOT_area", Double, "sum of the processed waveform over that time (0008)"),
    ("pmt_peak_Position", Double, "peak position (samples from the window start)"),
    ("pmt_peak_Height", Double, "peak height (ADC counts above the processed baseline)"),
    ("pmt_peak_HalfWidth", Double, "width at half prominence (samples)"),
    ("pmt_peak_FullWidth", Double, "width at 95% of the prominence (samples)"),
    ("baseline_adc", Double, "ours: raw baseline before inversion (ADC counts)"),
    ("peak_time_ns", Double, "ours: peak position (ns from the window start)"),
    ("peak_prominence", Double, "ours: scipy prominence of the peak (ADC counts)"),
    ("drs4_corrected", sa.Boolean, "ours: DRS4 offsets and spikes removed by us"),
)

pmt = sa.Table(
    "pmt", metadata,
    sa.Column("pass_name", sa.String(64), primary_key=True),
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("board", sa.SmallInteger, primary_key=True, autoincrement=False,
              comment="digitizer index in DGH0"),
    sa.Column("pmt_wf_trigger", sa.Integer, primary_key=True, autoincrement=False,
              comment="PMT trigger within the camera event"),
    sa.Column("pmt_wf_channel", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("pmt_peak_Number", sa.Integer, primary_key=True, autoincrement=False,
              comment="0: the waveform's own row; 1..n: its peaks"),
    *(sa.Column(name, kind, comment=comment) for name, kind, comment in PMT_COLUMNS),
)

# -- the uploader's chunk files (migration 0006) ------------------------------------------
CHUNK_STATUSES = ("uploaded",)  # chunks.status: verified on S3 (a row is written only then)

chunks = sa.Table(
    "chunks", metadata,
    sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("s3_key", sa.String(1024), comment="s3://bucket/key of the chunk file"),
    sa.Column("serials", sa.Text,
              comment='JSON: {event id: [first serial, last serial]} of the events inside'),
    sa.Column("events", sa.Integer),
    sa.Column("bytes", sa.BigInteger, comment="size of the (LZ4) chunk file"),
    sa.Column("sha256", sa.String(64), comment="of the whole file, verified by the server"),
    sa.Column("status", sa.String(16), comment="uploaded"),
    sa.Column("last_chunk", sa.Boolean, comment="the run's last chunk (closed at its end)"),
    sa.Column("opened_at", Timestamp),
    sa.Column("closed_at", Timestamp),
    sa.Column("uploaded_at", Timestamp),
    sa.Index("ix_chunks_uploaded_at", "uploaded_at"),
)

TABLES: dict[str, sa.Table] = {t.name: t for t in (runs, slow_control, reco, macro, pedestals,
                                                   passes, pass_runs, pmt, chunks,
                                                   attempts)}

RECO_COLUMNS: tuple[str, ...] = tuple(c.name for c in reco.columns)
MACRO_COLUMNS: tuple[str, ...] = tuple(c.name for c in macro.columns)
PEDESTAL_STATS: tuple[str, ...] = (
    "n_images", "pedestal_mean", "pedestal_rms", "noise_mean", "noise_median", "noise_rms",
    "hot_pixels", "map_sha256",
)


def key_columns(table: sa.Table) -> tuple[str, ...]:
    """Names of the table's primary-key columns, in order."""
    return tuple(c.name for c in table.primary_key.columns)
