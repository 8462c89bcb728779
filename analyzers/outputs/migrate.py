"""Bring a database's schema to the current version with the Alembic migrations.

Writers call `upgrade` on first connection, so a new SQLite file or an empty MariaDB database
gets its tables, and a deployed one upgrades in place. The version lives in the table
`cygno_schema_version`, so the schema can share a database with other applications.

Safe under concurrency: several processes (or threads) opening a new database at once take
turns. The migration runs under a lock: in this process a global one (Alembic's `context`
is process-wide state), across processes `flock` on `<file>.lock` for SQLite or
`GET_LOCK('cygno_schema')` for MariaDB/MySQL; whoever gets it second finds the schema at head
and does nothing. A failure is also re-checked: a schema found at head afterwards is success.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "cygno_schema_version"
SCHEMA_LOCK = "cygno_schema"  # MariaDB/MySQL named lock around migrations
LOCK_TIMEOUT_S = 120

log = logging.getLogger(__name__)
_process_lock = threading.Lock()  # Alembic's command/context are not thread-safe


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
    """Apply the migrations up to `revision` in place; a no-op when already there.

    Concurrent callers (threads, processes) take turns; see the module docstring."""
    if revision == "head" and _is_current(engine):
        return
    # Alembic configures logging only through alembic.ini; keep it quiet unless asked.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    with _process_lock, _schema_lock(engine):
        if revision == "head" and _is_current(engine):
            return  # another process made it while we waited
        try:
            with engine.begin() as conn:
                command.upgrade(alembic_config(conn), revision)
        except Exception as err:
            # e.g. "table already exists" from a writer that does not take our lock
            if revision == "head" and _is_current(engine):
                log.info("schema already at head after a concurrent upgrade (%s)", err)
                return
            raise


@contextlib.contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time for one database (nothing to hold for in-memory)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        path = engine.url.database or ""
        if not path or path == ":memory:" or path.startswith("file:"):
            yield
            return
        import fcntl

        lock_path = Path(path).expanduser()
        lock_path = lock_path.with_name(lock_path.name + ".lock")
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    if dialect in ("mysql", "mariadb"):
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"),
                               {"name": SCHEMA_LOCK, "timeout": LOCK_TIMEOUT_S}).scalar()
            if got != 1:
                raise TimeoutError(f"could not get the schema lock {SCHEMA_LOCK!r} within "
                                   f"{LOCK_TIMEOUT_S} s (another writer migrating?)")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": SCHEMA_LOCK})
        return
    yield


def _is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return False
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision() == head_revision()
