"""Initial schema: runs, slow_control, reco, macro, pedestals.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Frozen copy of the tables as first released; later changes go in new revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

D = sa.Double()
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

_CLUSTER_VARIABLES = (
    "sc_integral", "sc_corrintegral", "sc_nhits", "sc_size", "sc_rms", "sc_xmean", "sc_ymean",
    "sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax", "sc_theta", "sc_length", "sc_width",
    "sc_longrms", "sc_latrms", "sc_pearson", "sc_lgausssigma", "sc_tgausssigma",
)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text),
        sa.Column("start_time", TS),
        sa.Column("stop_time", TS),
        sa.Column("exposure_s", D),
        *(sa.Column(name, D) for name in (
            "gem3_v", "gem2_v", "gem1_v", "t2_v", "t1_v", "drift_v", "offset_v",
            "pmt1_v", "pmt2_v", "pmt3_v", "pmt4_v")),
        sa.Column("hv_state", sa.SmallInteger),
        sa.Column("total_gas_flow", D),
        sa.Column("number_of_events", sa.Integer),
        sa.Column("storage_local_status", sa.SmallInteger),
        sa.Column("storage_cloud_status", sa.SmallInteger),
        sa.Column("storage_tape_status", sa.SmallInteger),
        sa.Column("file_size", sa.BigInteger),
        sa.Column("file_checksum", sa.String(64)),
        sa.Column("file_s3_tag", sa.String(64)),
        sa.Column("online_reco_status", sa.SmallInteger),
        sa.Column("file_name", sa.String(255)),
        sa.Column("partial", sa.Boolean, comment="run file ended early or was cut"),
        sa.Column("reco_status", sa.String(16), comment="none | running | done | failed"),
        sa.Column("reco_events", sa.Integer, comment="events reconstructed so far"),
        sa.Column("reco_backend", sa.String(16)),
        sa.Column("updated_at", TS),
    )
    op.create_index("ix_runs_start_time", "runs", ["start_time"])

    op.create_table(
        "slow_control",
        sa.Column("variable", sa.String(128), primary_key=True),
        sa.Column("equipment", sa.String(64), primary_key=True),
        sa.Column("time", TS, primary_key=True),
        sa.Column("run", sa.Integer),
        sa.Column("value", D),
    )
    op.create_index("ix_slow_control_time", "slow_control", ["time"])
    op.create_index("ix_slow_control_run", "slow_control", ["run"])

    op.create_table(
        "reco",
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("cluster", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.Integer if name in ("sc_nhits", "sc_size") else D)
          for name in _CLUSTER_VARIABLES),
    )

    op.create_table(
        "macro",
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time", TS),
        sa.Column("nclusters", sa.Integer),
        sa.Column("cmos_integral", D, comment="total light in the image"),
        sa.Column("cmos_mean", D),
        sa.Column("cmos_rms", D),
        sa.Column("pedestal_mean", D),
        sa.Column("pedestal_rms", D),
        sa.Column("noise_mean", D),
        sa.Column("processing_time_s", D),
        sa.Column("backend", sa.String(16)),
        sa.Column("timings", sa.Text, comment="JSON: seconds per reconstruction step"),
    )
    op.create_index("ix_macro_time", "macro", ["time"])

    op.create_table(
        "pedestals",
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("n_images", sa.Integer),
        sa.Column("pedestal_mean", D),
        sa.Column("pedestal_rms", D, comment="spread of the per-pixel means"),
        sa.Column("noise_mean", D),
        sa.Column("noise_median", D),
        sa.Column("noise_rms", D, comment="spread of the per-pixel noise"),
        sa.Column("hot_pixels", sa.Integer),
        sa.Column("map_location", sa.String(1024), comment="local path or s3:// URL"),
        sa.Column("map_sha256", sa.String(64)),
        sa.Column("created_at", TS),
    )


def downgrade() -> None:
    for name in ("pedestals", "macro", "reco", "slow_control", "runs"):
        op.drop_table(name)
