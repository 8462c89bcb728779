"""The uploader's chunk files: table `chunks`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

One row per chunk file the uploader verified on S3: where it is, which events it holds
(first/last serial per event id), its size and SHA-256.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "chunks",
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
        sa.Column("opened_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("uploaded_at", TS),
    )
    op.create_index("ix_chunks_uploaded_at", "chunks", ["uploaded_at"])


def downgrade() -> None:
    op.drop_index("ix_chunks_uploaded_at", table_name="chunks")
    op.drop_table("chunks")
