"""The experiment's profile variables in `reco` (issue 23).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Adds sc_longrms, sc_latrms, sc_lfullrms, sc_tfullrms and sc_pearson with the meanings of the
experiment's reco tree (gpu/profile_variables.py).  Existing rows cannot be redone from the
table (the hits are not stored): NULL; reprocess a run into a new pass to fill them.  The
names sc_longrms, sc_latrms and sc_pearson were dropped by 0004 with other meanings; they
come back here with the experiment's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ADDED = ("sc_longrms", "sc_latrms", "sc_lfullrms", "sc_tfullrms", "sc_pearson")


def upgrade() -> None:
    with op.batch_alter_table("reco") as batch:
        for name in _ADDED:
            batch.add_column(sa.Column(name, sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("reco") as batch:
        for name in _ADDED:
            batch.drop_column(name)
