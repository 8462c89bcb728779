"""Engines, connection checks and retried transactions, with messages free of secrets.

One place decides what a database error means: credentials refused (stop, say so), server
unreachable or connection lost (retry with bounded backoff, then say so), or anything else
(a bug or bad data: stop). Every message names the URL with its password hidden.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine

from cygno_mw.errors import UsageError

from . import credentials
from .errors import DatabaseAuthError, DatabaseUnavailableError, OutputError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DB_URL = "sqlite:///cygno-out/cygno.sqlite"

# MySQL/MariaDB client error numbers.
_MYSQL_AUTH = {1044, 1045, 1698, 1251}
_MYSQL_UNKNOWN_DB = 1049
_MYSQL_UNAVAILABLE = {1040, 1053, 1205, 1213, 2002, 2003, 2005, 2006, 2013, 2055, 1927, 4031}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: `attempts` tries in all, waits growing by `factor`."""

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    factor: float = 2.0

    @classmethod
    def for_wait(cls, seconds: float) -> RetryPolicy:
        """Backoff that keeps trying for at least `seconds` in all (an outage to wait out)."""
        attempts = 1
        waited = 0.0
        for delay in cls(attempts=10_000).delays():
            if waited >= seconds:
                break
            waited += delay
            attempts += 1
        return cls(attempts=attempts)

    def delays(self) -> Iterator[float]:
        """The waits between consecutive attempts (attempts - 1 of them)."""
        delay = self.initial_delay
        for _ in range(max(self.attempts - 1, 0)):
            yield delay
            delay = min(delay * self.factor, self.max_delay)


def default_url() -> str:
    """env CYGNO_DB_URL, else the embedded SQLite file in $CYGNO_MW_HOME or ./cygno-out/."""
    import os

    from cygno_mw.home import home_database_url

    return os.environ.get(credentials.DB_URL_ENV) or home_database_url()


_URL_FORMS = ("use sqlite:///PATH, mysql+mysqlconnector://USER@HOST/DB or "
              "postgresql://USER@HOST/DB")


def parse_url(url: str | URL) -> URL:
    """The URL, password filled from the environment; a bad URL is a clear error."""
    try:
        return credentials.resolve_url(url)
    except (exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise UsageError("not a valid database URL (expected e.g. sqlite:///file.sqlite or "
                          "mysql+mysqlconnector://user@host:3306/db)") from None


def create_db_engine(url: str | URL, *, local_infile_dir: Path | None = None) -> Engine:
    """An Engine for `url`: SQLite tuned for one writer (WAL), MySQL with liveness checks.

    `local_infile_dir` lets the MySQL bulk loader send files from that one folder only.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    connect_args: dict[str, object] = {}
    try:
        if parsed.get_driver_name() == "mysqlconnector":
            connect_args["connection_timeout"] = 30
            if local_infile_dir is not None:
                connect_args["allow_local_infile_in_path"] = str(local_infile_dir)
        return sa.create_engine(parsed, pool_pre_ping=True, pool_recycle=3600,
                                connect_args=connect_args)
    except exc.NoSuchModuleError:
        raise UsageError(f"database URL {credentials.safe_url(parsed)}: unknown kind of "
                         f"database {parsed.drivername!r}; {_URL_FORMS}") from None
    except ImportError as err:
        hint = (" (MySQL and MariaDB are used through mysql+mysqlconnector://USER@HOST/DB)"
                if backend == "mysql" else "")
        raise UsageError(f"database URL {credentials.safe_url(parsed)}: its driver is not "
                         f"installed: {credentials.scrub(str(err))}{hint}") from None
    except exc.ArgumentError as err:
        raise OutputError(f"cannot use database URL {credentials.safe_url(parsed)}: "
                          f"{credentials.scrub(str(err))}") from None


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


# -- what an error means -------------------------------------------------------------------

def _errno(err: BaseException) -> int | None:
    orig = getattr(err, "orig", err)
    number = getattr(orig, "errno", None)
    return number if isinstance(number, int) else None


def is_auth_error(err: BaseException) -> bool:
    return _errno(err) in _MYSQL_AUTH


def is_retryable(err: BaseException) -> bool:
    """Connection refused or lost, server gone, lock timeout: worth trying again."""
    if is_auth_error(err) or _errno(err) == _MYSQL_UNKNOWN_DB:
        return False
    if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
        return True
    if _errno(err) in _MYSQL_UNAVAILABLE:
        return True
    orig = getattr(err, "orig", None)
    name = getattr(orig, "sqlite_errorname", "")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return True
    return isinstance(err, (exc.OperationalError, exc.InterfaceError)) and not name


def describe(err: BaseException) -> str:
    """The driver's own one-line message, with secrets removed."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return credentials.scrub(text)


def translate(err: BaseException, url: URL | str, attempts: int = 1) -> OutputError:
    """A user-facing error for a database exception (no traceback, no secret)."""
    where = credentials.safe_url(url)
    if is_auth_error(err):
        return DatabaseAuthError(f"database {where} refused the credentials: {describe(err)} "
                                 f"(password from ${credentials.DB_PASSWORD_ENV} or "
                                 f"${credentials.DB_PASSWORD_ENV}_FILE)")
    if _errno(err) == _MYSQL_UNKNOWN_DB:
        return OutputError(f"database {where} does not exist on the server: {describe(err)}")
    if is_retryable(err):
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return DatabaseUnavailableError(f"database {where} unreachable{tries}: {describe(err)}")
    return OutputError(f"database {where}: {describe(err)}")


def run_with_retry(engine: Engine, work: Callable[[Connection], T], policy: RetryPolicy,
                   what: str) -> T:
    """Run `work(conn)` in one transaction; on a lost/refused connection, retry the whole
    transaction with backoff. `work` must be idempotent (ours delete-then-insert)."""
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            with engine.begin() as conn:
                return work(conn)
        except exc.DBAPIError as err:
            if not is_retryable(err):
                raise translate(err, engine.url) from None
            delay = next(delays, None)
            if delay is None:
                raise translate(err, engine.url, attempt) from None
            log.warning("%s: database %s unavailable (%s); attempt %d of %d, retrying in "
                        "%.1f s", what, credentials.safe_url(engine.url), describe(err),
                        attempt, policy.attempts, delay)
            time.sleep(delay)


def check_connection(engine: Engine, policy: RetryPolicy) -> None:
    """Connect once (with retries) so that a bad URL or password fails early and clearly."""
    run_with_retry(engine, lambda conn: conn.exec_driver_sql("SELECT 1").scalar(), policy,
                   "connect")
