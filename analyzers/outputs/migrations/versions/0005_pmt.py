"""PMT results: table `pmt` (issue 13), rows belonging to a pass like `reco` and `macro`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

D = sa.Double()


def upgrade() -> None:
    op.create_table(
        "pmt",
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
        sa.Column("model", sa.Integer, comment="digitizer model: 1742 (fast) or 1720 (slow)"),
        sa.Column("pmt_wf_sampling", sa.Integer,
                  comment="samples per waveform (1024 fast, 4000 slow)"),
        sa.Column("pmt_wf_TTT", D, comment="trigger time tag (board clock counts)"),
        sa.Column("pmt_wf_baseline", D, comment="mean of the baseline samples after inversion "
                                                "and moving average (ADC counts)"),
        sa.Column("pmt_wf_RMS", D, comment="rms of the same samples (ADC counts)"),
        sa.Column("pmt_wf_tot_integral", D,
                  comment="sum of the processed waveform (ADC counts x samples)"),
        sa.Column("pmt_wf_max_ampl", D, comment="maximum of the processed waveform (ADC counts)"),
        sa.Column("pmt_wf_nPeaks", sa.Integer, comment="peaks found in the waveform"),
        sa.Column("pmt_peak_Position", D, comment="peak position (samples from the window start)"),
        sa.Column("pmt_peak_Height", D,
                  comment="peak height (ADC counts above the processed baseline)"),
        sa.Column("pmt_peak_HalfWidth", D, comment="width at half prominence (samples)"),
        sa.Column("pmt_peak_FullWidth", D, comment="width at 95% of the prominence (samples)"),
        sa.Column("baseline_adc", D, comment="ours: raw baseline before inversion (ADC counts)"),
        sa.Column("peak_time_ns", D, comment="ours: peak position (ns from the window start)"),
        sa.Column("peak_prominence", D, comment="ours: scipy prominence of the peak (ADC counts)"),
        sa.Column("drs4_corrected", sa.Boolean,
                  comment="ours: DRS4 offsets and spikes removed by us"),
    )


def downgrade() -> None:
    op.drop_table("pmt")
