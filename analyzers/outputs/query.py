"""The query library: Reco, Macro, Run, Slow Control and pedestal data as pandas DataFrames.

    from cygno_mw.analyzers.outputs.query import Database
    db = Database("mysql+mysqlconnector://reader@db.example/cygno")
    clusters = db.reco(11021, where="sc_integral > 1000 and sc_length < 50")

Every argument becomes a bound parameter; `where` strings go through `filters.parse_filter`,
so nothing a user types reaches SQL as text.

Reco and Macro rows belong to processing passes (`passes`). `reco`/`macro` read one pass,
`pass_="name"`, or by default each run's newest finished pass (`passes.default_passes`);
`passes()` lists them and `compare_passes(a, b)` puts two passes' clusters side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Engine

from cygno_mw.redact import redact

from . import database, passes, schema
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

    def __repr__(self) -> str:
        from .credentials import safe_url

        return f"Database({safe_url(self.url)!r})"

    # -- tables -----------------------------------------------------------------------------
    def runs(self, runs: int | Iterable[int] | None = None, *, start: Any = None,
             stop: Any = None, where: str | None = None,
             columns: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """Rows of `runs`, optionally for some run numbers or runs started in [start, stop)."""
        table = schema.runs
        conditions = _runs_condition(table, runs)
        conditions += _time_window(table.c.start_time, start, stop)
        return self._select(table, conditions, where, columns, limit, ("run",))

    def reco(self, runs: int | Iterable[int] | None = None, *, camera: int | None = None,
             event: int | None = None, where: str | None = None,
             columns: Sequence[str] | None = None, limit: int | None = None,
             pass_: str | None = None) -> pd.DataFrame:
        """Clusters (one row each) of a run or runs, optionally filtered; of the pass
        `pass_`, else of each run's default pass (its best finished one)."""
        table = schema.reco
        conditions = _runs_condition(table, runs)
        conditions.append(self._pass_condition(table, runs, pass_))
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        if event is not None:
            conditions.append(table.c.event == _int64(event, "event"))
        return self._checked(self._select(table, conditions, where, columns, limit,
                                          ("run", "camera", "event", "cluster")), pass_)

    def macro(self, runs: int | Iterable[int] | None = None, *, camera: int | None = None,
              start: Any = None, stop: Any = None, where: str | None = None,
              columns: Sequence[str] | None = None, limit: int | None = None,
              pass_: str | None = None) -> pd.DataFrame:
        """Per-event summaries of some runs (or of events in [start, stop)); of the pass
        `pass_`, else of each run's default pass (its newest finished one)."""
        table = schema.macro
        conditions = _runs_condition(table, runs)
        conditions.append(self._pass_condition(table, runs, pass_))
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        conditions += _time_window(table.c.time, start, stop)
        return self._checked(self._select(table, conditions, where, columns, limit,
                                          ("run", "camera", "event")), pass_)

    def pmt(self, runs: int | Iterable[int] | None = None, *, event: int | None = None,
            peaks: bool | None = None, where: str | None = None,
            columns: Sequence[str] | None = None, limit: int | None = None,
            pass_: str | None = None) -> pd.DataFrame:
        """PMT rows of some runs: `peaks` True only peaks, False only the waveforms' own rows
        (pmt_peak_Number 0), None both; of the pass `pass_`, else each run's default pass."""
        table = schema.pmt
        conditions = _runs_condition(table, runs)
        conditions.append(self._pass_condition(table, runs, pass_))
        if event is not None:
            conditions.append(table.c.event == int(event))
        if peaks is not None:
            conditions.append(table.c.pmt_peak_Number > 0 if peaks
                              else table.c.pmt_peak_Number == 0)
        return self._checked(self._select(
            table, conditions, where, columns, limit,
            ("run", "event", "board", "pmt_wf_trigger", "pmt_wf_channel", "pmt_peak_Number")),
            pass_)

    def slow_control(self, variable: str | Iterable[str] | None = None, start: Any = None,
                     stop: Any = None, *, equipment: str | None = None,
                     runs: int | Iterable[int] | None = None, where: str | None = None,
                     limit: int | None = None) -> pd.DataFrame:
        """Samples of one or more variables in [start, stop) (or of some runs: `runs`),
        oldest first."""
        table = schema.slow_control
        conditions: list[Any] = []
        if variable is not None:
            names = [variable] if isinstance(variable, str) else list(variable)
            conditions.append(table.c.variable.in_(names))
        if equipment is not None:
            conditions.append(table.c.equipment == equipment)
        conditions += _runs_condition(table, runs)
        conditions += _time_window(table.c.time, start, stop)
        return self._select(table, conditions, where, None, limit,
                            ("time", "variable", "equipment"))

    def pedestals(self, runs: int | Iterable[int] | None = None, *, camera: int | None = None,
                  where: str | None = None, columns: Sequence[str] | None = None,
                  limit: int | None = None) -> pd.DataFrame:
        """Pedestal-map summaries and where each map is stored."""
        table = schema.pedestals
        conditions = _runs_condition(table, runs)
        if camera is not None:
            conditions.append(table.c.camera == _int64(camera, "camera"))
        return self._select(table, conditions, where, columns, limit, ("run", "camera"))

    # -- processing passes ----------------------------------------------------------------------
    def passes(self, names: str | Iterable[str] | None = None) -> pd.DataFrame:
        """One row per pass: its `passes` columns, the runs it covers (`runs`, `n_runs`,
        `runs_done`), and `differences`: its parameters against the previous pass's (by
        start time), `section.key: old -> new`."""
        table = schema.passes
        conditions = []
        if names is not None:
            wanted = [names] if isinstance(names, str) else list(names)
            conditions.append(table.c.pass_name.in_(wanted))
        frame = self._select(table, conditions, None, None, None, ("started_at", "pass_name"))
        # rows stored before parameters were redacted at the source may hold a password
        frame["parameters"] = [p if not isinstance(p, str) else redact(p)
                               for p in frame["parameters"]]
        covered = self.pass_runs(pass_=frame["pass_name"].tolist())
        runs, done = [], []
        for name in frame["pass_name"]:
            mine = covered[covered["pass_name"] == name]
            runs.append(sorted(int(r) for r in mine["run"]))
            done.append(int(mine["status"].isin(passes.FINISHED_RUN_STATUSES).sum()))
        frame["runs"] = runs
        frame["n_runs"] = [len(r) for r in runs]
        frame["runs_done"] = done
        previous: Any = None
        differences = []
        for parameters in frame["parameters"]:
            changed = passes.parameter_differences(previous, parameters)
            differences.append("; ".join(changed) if previous is not None else "")
            previous = parameters
        frame["differences"] = differences
        return frame

    def pass_runs(self, runs: int | Iterable[int] | None = None, *,
                  pass_: str | Iterable[str] | None = None) -> pd.DataFrame:
        """`pass_runs`: which pass covered which run, how it ended, with which pedestals
        (`pass_`: one pass or several)."""
        table = schema.pass_runs
        conditions = _runs_condition(table, runs)
        if pass_ is not None:
            names = [pass_] if isinstance(pass_, str) else list(pass_)
            conditions.append(table.c.pass_name.in_(names))
        return self._select(table, conditions, None, None, None, ("run", "pass_name"))

    def attempts(self, runs: int | Iterable[int] | None = None, *,
                 pass_: str | Iterable[str] | None = None, where: str | None = None,
                 columns: Sequence[str] | None = None,
                 limit: int | None = None) -> pd.DataFrame:
        """`attempts`: every try at a run in a pass (status, reason, host, pid, times),
        oldest first; a failed or interrupted one never changed the results it did not
        replace (see outputs/run_record.py)."""
        table = schema.attempts
        conditions = _runs_condition(table, runs)
        if pass_ is not None:
            names = [pass_] if isinstance(pass_, str) else list(pass_)
            conditions.append(table.c.pass_name.in_(names))
        return self._select(table, conditions, where, columns, limit,
                            ("started_at", "run", "attempt"))

    def default_passes(self, runs: int | Iterable[int] | None = None) -> dict[int, str]:
        """{run: pass read by default}: each run's newest finished pass (else its newest)."""
        numbers = None if runs is None else [int(r) for r in _as_list(runs)]
        return database.run_with_retry(
            self.engine, lambda conn: passes.default_passes(conn, numbers), self.retry,
            "query")

    def compare_passes(self, a: str, b: str, runs: int | Iterable[int] | None = None, *,
                       camera: int | None = None, max_distance: float = 20.0,
                       columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Clusters of passes `a` and `b` over the same runs, matched side by side.

        Within each (run, camera, event) clusters are paired by position (sc_xmean,
        sc_ymean; the pairing with the least total distance, pairs at most `max_distance`
        pixels apart). One row per pair or unpaired cluster: run, camera, event, `match`
        (`both`, `only_<a>`, `only_<b>`), `distance`, then each variable twice, suffixed
        `_<a>` and `_<b>` (NaN where a side has no cluster). `runs` default: every run both
        passes cover. `columns`: the cluster variables to show (default: all)."""
        if runs is None:
            covered = self.pass_runs(pass_=[a, b])
            per_pass = [set(covered.loc[covered["pass_name"] == p, "run"]) for p in (a, b)]
            runs = sorted(per_pass[0] & per_pass[1])
        from .pass_compare import match_clusters

        variables = list(columns or schema.CLUSTER_VARIABLES)
        wanted = sorted({"run", "camera", "event", "cluster", "sc_xmean", "sc_ymean",
                         *variables}, key=list(schema.reco.columns.keys()).index)
        left = self.reco(runs=_as_list(runs), camera=camera, columns=wanted, pass_=a)
        right = self.reco(runs=_as_list(runs), camera=camera, columns=wanted, pass_=b)
        return match_clusters(left, right, a, b, variables, max_distance)

    def _pass_condition(self, table: sa.Table, runs: int | Iterable[int] | None,
                        pass_: str | None) -> Any:
        if pass_ is not None:
            return table.c.pass_name == str(pass_)
        return passes.pass_condition(table, self.default_passes(runs))

    def _checked(self, frame: pd.DataFrame, pass_: str | None) -> pd.DataFrame:
        if pass_ is not None and frame.empty:
            self._check_pass(str(pass_))
        return frame

    def _check_pass(self, name: str) -> None:
        """A pass that does not exist is an error naming those that do (not an empty
        frame that looks like a pass without clusters)."""
        statement = sa.union(sa.select(schema.passes.c.pass_name),
                             sa.select(schema.pass_runs.c.pass_name))
        names = sorted(database.run_with_retry(
            self.engine, lambda conn: [r[0] for r in conn.execute(statement)],
            self.retry, "query"))
        if name not in names:
            known = ", ".join(names) if names else "none yet"
            raise OutputError(f"no pass {name!r} in {self!r}; its passes: {known}")

    def missing_runs(self, runs: int | Iterable[int]) -> list[int]:
        """Those of `runs` the database knows nothing of (no Run row, no pass covers it)."""
        wanted = _as_list(runs)
        if not wanted:
            return []
        found = set(self.runs(wanted, columns=["run"])["run"].tolist())
        found |= set(self.pass_runs(wanted)["run"].tolist())
        return [r for r in wanted if r not in found]

    # -- machinery ----------------------------------------------------------------------------
    def _select(self, table: sa.Table, conditions: list[Any], where: str | None,
                columns: Sequence[str] | None, limit: int | None,
                order: Sequence[str]) -> pd.DataFrame:
        if columns:
            columns = list(dict.fromkeys(columns))  # a column asked twice is shown once
            sources = [c if c in table.c else _json_source(table, c) for c in columns]
            unknown = [c for c, source in zip(columns, sources, strict=True) if source is None]
            if unknown:
                raise FilterError(f"{table.name} has no columns {unknown}")
            selected = [table.c[c] for c in dict.fromkeys(sources)]  # type: ignore[index]
        else:
            selected = list(table.columns)
        statement = sa.select(*selected)
        if where:
            conditions = [*conditions, parse_filter(where, table)]
        if conditions:
            statement = statement.where(*conditions)
        statement = statement.order_by(*(table.c[c] for c in order))
        if limit is not None:
            if _int64(limit, "limit") < 0:
                raise FilterError(f"limit: {limit} is negative (give 0 or more rows)")
            statement = statement.limit(_int64(limit, "limit"))

        def fetch(conn: sa.Connection) -> pd.DataFrame:
            result = conn.execute(statement)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

        try:
            frame = database.run_with_retry(self.engine, fetch, self.retry, "query")
        except exc.ArgumentError as err:  # pragma: no cover - programming error
            raise FilterError(str(err)) from None
        frame = _expand_json(_typed(frame, table), table)
        if columns:
            frame = frame.reindex(columns=list(columns))  # a key no row has: all NaN
        return frame


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


def _as_list(runs: int | Iterable[int]) -> list[int]:
    if isinstance(runs, (int, str)) or hasattr(runs, "__index__"):
        return [int(runs)]  # type: ignore[arg-type]
    return [int(r) for r in runs]


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


def _expand_json(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """JSON objects of numbers (columns marked `info={"json_floats": True}` in the schema, e.g.
    macro.timings) as one float column per key, named `<column>_<key>` (`timings_seeding`),
    in place of the JSON text.  Other JSON columns (a pass's parameters) stay text."""
    for name in list(frame.columns):
        if not table.c[name].info.get("json_floats"):
            continue
        records = [_json_object(text) for text in frame[name]]
        keys = sorted({key for record in records for key in record})
        position = frame.columns.get_loc(name)
        frame = frame.drop(columns=[name])
        for offset, key in enumerate(keys):
            values = pd.to_numeric(pd.Series([r.get(key) for r in records], index=frame.index,
                                             dtype=object), errors="coerce")
            frame.insert(position + offset, f"{name}_{key}", values.astype("float64"))
    return frame


def _json_source(table: sa.Table, name: str) -> str | None:
    """The JSON column an expanded column `<column>_<key>` comes from, or None."""
    for column in table.columns:
        if column.info.get("json_floats") and name.startswith(column.name + "_"):
            return column.name
    return None


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _typed(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """Columns in their natural dtypes even when empty or holding NULLs (floats with NaN)."""
    for name in frame.columns:
        column_type = table.c[name].type
        if isinstance(column_type, sa.Float):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif isinstance(column_type, sa.DateTime):
            frame[name] = pd.to_datetime(frame[name])
        elif isinstance(column_type, sa.Integer):  # NULLs: float64 with NaN, never object
            has_null = frame[name].isna().any()
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(
                "float64" if has_null else "int64")
    return frame
