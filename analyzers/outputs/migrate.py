"""Bring a database's schema to the current version with the Alembic migrations.

Writers call `upgrade` on first connection, so a new SQLite file or an empty MariaDB database
gets its tables, and a deployed one upgrades in place. The version lives in the table
`cygno_schema_version`, so the schema can share a database with other applications.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "cygno_schema_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at our migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema version these migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema version the database is at (None: not managed by us yet)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` in place; a no-op when already there."""
    if revision == "head" and _is_current(engine):
        return
    # Alembic configures logging only through alembic.ini; keep it quiet unless asked.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def _is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return False
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision() == head_revision()
