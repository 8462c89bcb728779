"""The experiment's profile variables in `reco` (issue 23).

Revision ID: 0008_experiment_profiles
Revises: 0007_attempts
Create Date: 2026-12-06

Adds the experiment's profile variables with the meanings of its reco tree
(gpu/profile_variables.py, gpu/profile_fits.py): sc_longrms, sc_latrms, sc_lfullrms,
sc_tfullrms, sc_pearson, the profiles' Gaussian fits (sc_lgauss*, sc_lchi2, sc_lstatus and
the same for t) and main peaks (sc_lp0*, sc_tp0fwhm); and to `pmt` its pmt_TOT_time and
pmt_TOT_area (gpu/pmt_waveforms.time_over_threshold).  Existing rows cannot be redone from the
table (the hits are not stored): NULL; reprocess a run into a new pass to fill them.  The
names sc_longrms, sc_latrms and sc_pearson were dropped by 0004 with other meanings; they
come back here with the experiment's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_experiment_profiles"
down_revision = "0007_attempts"
branch_labels = None
depends_on = None

_ADDED = (
    "sc_longrms", "sc_latrms", "sc_lfullrms", "sc_tfullrms", "sc_pearson",
    "sc_lgaussamp", "sc_lgaussmean", "sc_lgausssigma", "sc_lchi2", "sc_lstatus",
    "sc_tgaussamp", "sc_tgaussmean", "sc_tgausssigma", "sc_tchi2", "sc_tstatus",
    "sc_lp0amplitude", "sc_lp0prominence", "sc_lp0fwhm", "sc_lp0mean", "sc_tp0fwhm",
)


_PMT_ADDED = {
    "pmt_TOT_time": "time over 5 x rms of the processed waveform (samples; 0008)",
    "pmt_TOT_area": "sum of the processed waveform over that time (0008)",
}


def upgrade() -> None:
    with op.batch_alter_table("reco") as batch:
        for name in _ADDED:
            batch.add_column(sa.Column(name, sa.Double()))
    with op.batch_alter_table("pmt") as batch:
        for name, comment in _PMT_ADDED.items():
            batch.add_column(sa.Column(name, sa.Double(), comment=comment))


def downgrade() -> None:
    with op.batch_alter_table("pmt") as batch:
        for name in _PMT_ADDED:
            batch.drop_column(name)
    with op.batch_alter_table("reco") as batch:
        for name in _ADDED:
            batch.drop_column(name)
