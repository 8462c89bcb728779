"""Processing passes: tables `passes` and `pass_runs`; `reco` and `macro` gain `pass_name`.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01

Rows already there belong to the pass `legacy` (a `passes` row says so, with the runs'
old reco status copied to `pass_runs`). `reco` and `macro` get `pass_name` first in their
primary keys: each is rebuilt as a new table, filled from the old one, then swapped in
(atomically on MariaDB with one RENAME TABLE; inside the migration's transaction on SQLite),
so a failure never leaves a table half copied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

D = sa.Double()
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LEGACY = "legacy"

_CLUSTER_VARIABLES = (
    "sc_integral", "sc_corrintegral", "sc_nhits", "sc_size", "sc_rms", "sc_xmean", "sc_ymean",
    "sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax", "sc_theta", "sc_length", "sc_width",
    "sc_longrms", "sc_latrms", "sc_pearson", "sc_lgausssigma", "sc_tgausssigma",
)


def _reco_columns() -> list[sa.Column]:
    return [
        sa.Column("pass_name", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("camera", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("cluster", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.Integer if name in ("sc_nhits", "sc_size") else D)
          for name in _CLUSTER_VARIABLES),
    ]


def _macro_columns() -> list[sa.Column]:
    return [
        sa.Column("pass_name", sa.String(64), primary_key=True),
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
    ]


def upgrade() -> None:
    op.create_table(
        "passes",
        sa.Column("pass_name", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), comment="unfinished | finished | failed"),
        sa.Column("version", sa.String(64), comment="cygno-mw package version"),
        sa.Column("revision", sa.String(128),
                  comment="git describe of the source, else version"),
        sa.Column("parameters", sa.Text, comment="JSON: the full analyzer parameters"),
        sa.Column("parameters_hash", sa.String(64),
                  comment="sha256 of what changes results: Reco parameters and vignetting map"),
        sa.Column("backend", sa.String(16)),
        sa.Column("vignette_map", sa.String(1024), comment="as configured"),
        sa.Column("vignette_sha256", sa.String(64), comment="content of the map used"),
        sa.Column("started_by", sa.String(64)),
        sa.Column("host", sa.String(255)),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("updated_at", TS),
    )
    op.create_table(
        "pass_runs",
        sa.Column("pass_name", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(16), comment="running | done | partial | failed"),
        sa.Column("backend", sa.String(16)),
        sa.Column("revision", sa.String(128), comment="source revision that processed the run"),
        sa.Column("pedestals", sa.Text,
                  comment="JSON: per camera, the pedestal run and map sha256 used"),
        sa.Column("host", sa.String(255)),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_pass_runs_run", "pass_runs", ["run"])

    _rebuild("reco", _reco_columns(), [c for c in _reco_columns() if c.name != "pass_name"])
    _rebuild("macro", _macro_columns(),
             [c for c in _macro_columns() if c.name != "pass_name"])
    op.create_index("ix_macro_time", "macro", ["time"])
    _legacy_pass()


def _rebuild(name: str, columns: list[sa.Column], old_columns: list[sa.Column]) -> None:
    """`name` again with `pass_name` in front of its key; old rows get the legacy pass."""
    new_name, old_name = f"{name}_0003", f"{name}_0001"
    bind = op.get_bind()
    op.execute(sa.text(f"DROP TABLE IF EXISTS {new_name}"))  # a failed earlier attempt
    new = op.create_table(new_name, *columns)
    assert new is not None
    old = sa.table(name, *(sa.column(c.name) for c in old_columns))
    names = [c.name for c in old_columns]
    op.execute(new.insert().from_select(
        ["pass_name", *names],
        sa.select(sa.literal(LEGACY, sa.String(64)), *(old.c[n] for n in names))))
    if bind.dialect.name in ("mysql", "mariadb"):
        op.execute(sa.text(f"RENAME TABLE {name} TO {old_name}, {new_name} TO {name}"))
        op.drop_table(old_name)
    else:
        op.drop_table(name)
        op.rename_table(new_name, name)


def _legacy_pass() -> None:
    """A `passes` row for the rows written before passes existed, and their runs' status."""
    bind = op.get_bind()
    has_rows = any(bind.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first() is not None
                   for t in ("reco", "macro"))
    if not has_rows:
        return
    op.execute(sa.text(
        "INSERT INTO passes (pass_name, status, version, revision, started_at, finished_at) "
        "SELECT :name, 'finished', 'unknown', 'before processing passes', "
        "MIN(updated_at), MAX(updated_at) FROM runs").bindparams(name=LEGACY))
    op.execute(sa.text(
        "INSERT INTO pass_runs (pass_name, run, status, backend, finished_at) "
        "SELECT :name, run, CASE WHEN reco_status IN ('done', 'partial', 'failed') "
        "THEN reco_status ELSE 'running' END, reco_backend, updated_at FROM runs "
        "WHERE run IN (SELECT DISTINCT run FROM macro UNION SELECT DISTINCT run FROM reco)"
    ).bindparams(name=LEGACY))


def downgrade() -> None:
    """Back to one result per run: keeps the legacy pass's rows (others are dropped)."""
    for name in ("reco", "macro"):
        op.execute(sa.text(f"DELETE FROM {name} WHERE pass_name <> :p").bindparams(p=LEGACY))
        with op.batch_alter_table(name, recreate="always") as batch:
            batch.drop_column("pass_name")
    op.drop_index("ix_pass_runs_run", "pass_runs")
    op.drop_table("pass_runs")
    op.drop_table("passes")
