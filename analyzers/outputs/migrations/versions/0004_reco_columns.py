"""`reco` columns with the experiment's meanings (issue 13).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

What the columns meant before and what happens to rows already there (passes run before
this version; they keep their pass name):
- sc_integral (uncorrected light)        -> renamed sc_rawintegral (same meaning, kept)
- sc_corrintegral (vignetting-corrected) -> renamed sc_integral (the experiment's meaning, kept;
  the map was applied unmirrored then: at most 1% different on LIME's map, see vignetting.py)
- sc_corrintegral (new: the experiment's saturation polynomial): NULL
- sc_theta (major axis in the image frame) -> sc_theta_major, converted exactly to the new frame
  (theta - 90 degrees, folded into (-90, 90]); sc_theta (new: the experiment's): NULL
- sc_rms, sc_xmean, sc_ymean, sc_xmin..sc_ymax: image frame and uncorrected weights before:
  NULL (the frame's width is not stored, the weights cannot be redone)
- sc_longrms, sc_latrms, sc_pearson, sc_lgausssigma, sc_tgausssigma: dropped; their
  successors sc_longwrms, sc_latwrms, sc_xycorr, sc_lprofsigma, sc_tprofsigma: NULL
- sc_nhits, sc_size, sc_length, sc_width: unchanged.
Reprocess a run into a new pass to get every column.  Downgrade restores the old names; the
old meanings come back only for the columns that were kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

D = sa.Double()
_RESET = ("sc_rms", "sc_xmean", "sc_ymean", "sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax")
_DROPPED = ("sc_longrms", "sc_latrms", "sc_pearson", "sc_lgausssigma", "sc_tgausssigma")
_ADDED = ("sc_theta_major", "sc_longwrms", "sc_latwrms", "sc_xycorr", "sc_lprofsigma",
          "sc_tprofsigma")


def upgrade() -> None:
    with op.batch_alter_table("reco") as batch:
        batch.alter_column("sc_integral", new_column_name="sc_rawintegral",
                           existing_type=D)
    with op.batch_alter_table("reco") as batch:
        batch.alter_column("sc_corrintegral", new_column_name="sc_integral", existing_type=D)
    with op.batch_alter_table("reco") as batch:  # separate: SQLite's copy goes by name
        batch.add_column(sa.Column("sc_corrintegral", D))
        for name in _ADDED:
            batch.add_column(sa.Column(name, D))
        for name in _DROPPED:
            batch.drop_column(name)
    op.execute(sa.text(
        "UPDATE reco SET sc_theta_major = CASE WHEN sc_theta <= 0 THEN sc_theta + 90 "
        "ELSE sc_theta - 90 END WHERE sc_theta IS NOT NULL"))
    op.execute(sa.text(
        "UPDATE reco SET sc_theta = NULL, " + ", ".join(f"{n} = NULL" for n in _RESET)))


def downgrade() -> None:
    with op.batch_alter_table("reco") as batch:
        batch.drop_column("sc_corrintegral")
    with op.batch_alter_table("reco") as batch:
        for name in _ADDED:
            batch.drop_column(name)
        for name in _DROPPED:
            batch.add_column(sa.Column(name, D))
    with op.batch_alter_table("reco") as batch:
        batch.alter_column("sc_integral", new_column_name="sc_corrintegral", existing_type=D)
    with op.batch_alter_table("reco") as batch:
        batch.alter_column("sc_rawintegral", new_column_name="sc_integral", existing_type=D)
