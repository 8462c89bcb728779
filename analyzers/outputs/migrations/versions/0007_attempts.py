"""The record of attempts: table `attempts`; the pass each Run row's status reports; run
coverage (events the DAQ took that the analysis did not see).

Revision ID: 0007_attempts
Revises: 0006
Create Date: 2026-12-06

- `attempts`: one row per attempt to process a run in a pass (started, finished or failed,
  why), so that a failed attempt is recorded without touching the results it did not replace;
- `pass_runs.reco_events`, `pass_runs.skipped_events`: what the pass made of the run;
- `runs.reco_pass`: the pass whose status and counts `reco_status`/`reco_events` report (the
  run's best finished pass); `runs.skipped_events` and `runs.sampled`: coverage of a run the
  online analyzer sampled (analyzed = number_of_events - skipped_events).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007_attempts"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("attempt", sa.String(32), primary_key=True),
        sa.Column("pass_name", sa.String(64), nullable=False),
        sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("status", sa.String(16),
                  comment="running | done | partial | failed | interrupted"),
        sa.Column("reason", sa.Text, comment="why it failed, was interrupted or is partial"),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer, autoincrement=False),
        sa.Column("revision", sa.String(128)),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_attempts_run", "attempts", ["run"])
    with op.batch_alter_table("pass_runs") as batch:
        batch.add_column(sa.Column("reco_events", sa.Integer,
                                   comment="images reconstructed in this pass"))
        batch.add_column(sa.Column("skipped_events", sa.Integer,
                                   comment="events of the run this pass did not analyze"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("reco_pass", sa.String(64),
                                   comment="the pass reco_status/reco_events report"))
        batch.add_column(sa.Column("skipped_events", sa.Integer,
                                   comment="events taken but not analyzed (sampled)"))
        batch.add_column(sa.Column("sampled", sa.Boolean,
                                   comment="the analysis saw only part of the events"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("sampled")
        batch.drop_column("skipped_events")
        batch.drop_column("reco_pass")
    with op.batch_alter_table("pass_runs") as batch:
        batch.drop_column("skipped_events")
        batch.drop_column("reco_events")
    op.drop_index("ix_attempts_run", table_name="attempts")
    op.drop_table("attempts")
