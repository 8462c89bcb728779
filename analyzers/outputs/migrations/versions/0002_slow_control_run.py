"""Slow-control samples belong to their run: the run joins the primary key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Before, the key was (variable, equipment, time), so a run whose samples had the same
times as another run's (every simulated run once started at the same instant) replaced
that run's rows.  The key is now (variable, equipment, time, run); a sample outside any
run has run 0.  Existing rows are copied across (a missing run becomes 0).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_COLUMNS = "variable, equipment, time, run, value"


def _create(name: str, *, run_in_key: bool) -> None:
    op.create_table(
        name,
        sa.Column("variable", sa.String(128), primary_key=True),
        sa.Column("equipment", sa.String(64), primary_key=True),
        sa.Column("time", TS, primary_key=True),
        sa.Column("run", sa.Integer, primary_key=run_in_key, autoincrement=False,
                  nullable=not run_in_key, server_default=sa.text("0") if run_in_key else None),
        sa.Column("value", sa.Double()),
    )


def _swap(new: str) -> None:
    op.drop_table("slow_control")
    op.rename_table(new, "slow_control")
    op.create_index("ix_slow_control_time", "slow_control", ["time"])
    op.create_index("ix_slow_control_run", "slow_control", ["run"])


def upgrade() -> None:
    _create("slow_control_0002", run_in_key=True)
    op.execute(f"INSERT INTO slow_control_0002 ({_COLUMNS}) "
               "SELECT variable, equipment, time, COALESCE(run, 0), value FROM slow_control")
    _swap("slow_control_0002")


def downgrade() -> None:
    _create("slow_control_0001", run_in_key=False)
    op.execute(f"INSERT INTO slow_control_0001 ({_COLUMNS}) "
               "SELECT variable, equipment, time, MAX(run), MAX(value) FROM slow_control "
               "GROUP BY variable, equipment, time")
    _swap("slow_control_0001")
