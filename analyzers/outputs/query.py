"""The query library: Reco, Macro, Run, Slow Control and pedestal data as pandas DataFrames.

    from cygno_mw.analyzers.outputs.query import Database
    db = Database("mysql+mysqlconnector://reader@db.example/cygno")
    clusters = db.reco(run=11021, where="sc_integral > 1000 and sc_length < 50")

Every argument becomes a bound parameter; `where` strings go through `filters.parse_filter`,
so nothing a user types reaches SQL as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Engine

from . import database, schema
from .batch import to_utc_naive
from .database import RetryPolicy
from .errors import FilterError, OutputError
from .filters import parse_filter


class Database:
    """Read access to the cygno-mw tables of one database URL."""

    def __init__(self, url: str | URL | None = None, *, retry: RetryPolicy | None = None,
                 engine: Engine | None = None) -> None:
        self.url = database.parse_url(url or database.default_url())
        self.retry = retry or RetryPolicy(attempts=3)
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            _require_sqlite_file(self.url)
            self._engine = database.create_db_engine(self.url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- tables -----------------------------------------------------------------------------
    def runs(self, runs: int | Iterable[int] | None = None, *, start: Any = None,
             stop: Any = None, where: str | None = None,
             columns: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """Rows of `runs`, optionally for some run numbers or runs started in [start, stop)."""
        table = schema.runs
        conditions = _runs_condition(table, runs)
        conditions += _time_window(table.c.start_time, start, stop)
        return self._select(table, conditions, where, columns, limit, ("run",))

    def reco(self, run: int | None = None, *, runs: Iterable[int] | None = None,
             camera: int | None = None, event: int | None = None, where: str | None = None,
             columns: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """Clusters (one row each) of a run or runs, optionally filtered."""
        table = schema.reco
        conditions = _runs_condition(table, run if runs is None else runs)
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        if event is not None:
            conditions.append(table.c.event == _int64(event, "event"))
        return self._select(table, conditions, where, columns, limit,
                            ("run", "camera", "event", "cluster"))

    def macro(self, runs: int | Iterable[int] | None = None, *, camera: int | None = None,
              start: Any = None, stop: Any = None, where: str | None = None,
              columns: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """Per-event summaries of some runs (or of events in [start, stop))."""
        table = schema.macro
        conditions = _runs_condition(table, runs)
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        conditions += _time_window(table.c.time, start, stop)
        return self._select(table, conditions, where, columns, limit,
                            ("run", "camera", "event"))

    def slow_control(self, variable: str | Iterable[str] | None = None, start: Any = None,
                     stop: Any = None, *, equipment: str | None = None,
                     run: int | None = None, where: str | None = None,
                     limit: int | None = None) -> pd.DataFrame:
        """Samples of one or more variables in [start, stop), oldest first."""
        table = schema.slow_control
        conditions: list[Any] = []
        if variable is not None:
            names = [variable] if isinstance(variable, str) else list(variable)
            conditions.append(table.c.variable.in_(names))
        if equipment is not None:
            conditions.append(table.c.equipment == equipment)
        if run is not None:
            conditions.append(table.c.run == _int64(run, "run"))
        conditions += _time_window(table.c.time, start, stop)
        return self._select(table, conditions, where, None, limit,
                            ("time", "variable", "equipment"))

    def pedestals(self, runs: int | Iterable[int] | None = None, *, camera: int | None = None,
                  where: str | None = None) -> pd.DataFrame:
        """Pedestal-map summaries and where each map is stored."""
        table = schema.pedestals
        conditions = _runs_condition(table, runs)
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        return self._select(table, conditions, where, None, None, ("run", "camera"))

    # -- machinery ----------------------------------------------------------------------------
    def _select(self, table: sa.Table, conditions: list[Any], where: str | None,
                columns: Sequence[str] | None, limit: int | None,
                order: Sequence[str]) -> pd.DataFrame:
        if columns:
            columns = list(dict.fromkeys(columns))  # a column asked twice is shown once
            unknown = [c for c in columns if c not in table.c]
            if unknown:
                raise FilterError(f"{table.name} has no columns {unknown}")
            selected = [table.c[c] for c in columns]
        else:
            selected = list(table.columns)
        statement = sa.select(*selected)
        if where:
            conditions = [*conditions, parse_filter(where, table)]
        if conditions:
            statement = statement.where(*conditions)
        statement = statement.order_by(*(table.c[c] for c in order))
        if limit is not None:
            statement = statement.limit(_int64(limit, "limit"))

        def fetch(conn: sa.Connection) -> pd.DataFrame:
            result = conn.execute(statement)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

        try:
            frame = database.run_with_retry(self.engine, fetch, self.retry, "query")
        except exc.ArgumentError as err:  # pragma: no cover - programming error
            raise FilterError(str(err)) from None
        return _typed(frame, table)


def _require_sqlite_file(url: URL) -> None:
    """Reading must not create an empty SQLite file as a side effect."""
    path = url.database or ""
    if (url.get_backend_name() == "sqlite" and path and path != ":memory:"
            and not path.startswith("file:") and not Path(path).expanduser().exists()):
        raise OutputError(f"no database at {path} (results are written there by the "
                          "analyzer; or give --db / $CYGNO_DB_URL)")


def _time_window(column: sa.Column, start: Any, stop: Any) -> list[Any]:
    """`start <= column < stop`, either bound optional; bounds converted to naive UTC."""
    conditions = []
    if start is not None:
        conditions.append(column >= _time(start, "start"))
    if stop is not None:
        conditions.append(column < _time(stop, "stop"))
    return conditions


def _time(value: Any, what: str) -> Any:
    try:
        return to_utc_naive(value)
    except (ValueError, TypeError, OverflowError, OSError):
        raise FilterError(f"{what}: {value!r} is not a time (use e.g. 2023-03-02 or "
                          "'2023-03-02 06:00:00', UTC)") from None


def _int64(value: Any, what: str) -> int:
    """`value` as an integer every SQL backend can compare with (else a FilterError)."""
    number = int(value)
    if not -(1 << 63) <= number < 1 << 63:
        raise FilterError(f"{what}: {value} is beyond the 64-bit integer range")
    return number


def _runs_condition(table: sa.Table, runs: int | Iterable[int] | None) -> list[Any]:
    if runs is None:
        return []
    if isinstance(runs, (int, str)) or hasattr(runs, "__index__"):
        return [table.c.run == _int64(runs, "run")]  # type: ignore[arg-type]
    numbers = [_int64(r, "run") for r in runs]
    return [table.c.run.in_(numbers)]


def _typed(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """Columns in their natural dtypes even when empty or holding NULLs (floats with NaN)."""
    for name in frame.columns:
        column_type = table.c[name].type
        if isinstance(column_type, sa.Float):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif isinstance(column_type, sa.DateTime):
            frame[name] = pd.to_datetime(frame[name])
        elif isinstance(column_type, sa.Integer) and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
    return frame
