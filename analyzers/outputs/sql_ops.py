"""The statements a batch is made of: inserts, deletes by key, upserts — all with bound
parameters, all inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from .batch import Columns, column_length, column_to_list, columns_to_rows
from .errors import OutputError
from .schema import key_columns

DELETE_CHUNK = 500
MULTIROW_ROWS = 1000


def executemany_insert(conn: Connection, table: sa.Table, columns: Columns,
                       order: Sequence[str]) -> None:
    """Insert column batches with one DB-API executemany (rows built by zipping columns)."""
    if column_length(columns) == 0:
        return
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect, column_keys=list(order))
    if not compiled.positional:
        rows = columns_to_rows(columns, order)
        conn.execute(table.insert(), [dict(zip(order, row, strict=True)) for row in rows])
        return
    names = [str(name) for name in compiled.positiontup or ()]
    values = []
    for name in names:
        flat = column_to_list(columns[name])
        # Values from numeric NumPy columns are already plain ints/floats/None.
        if columns[name].dtype.kind not in "iuf":
            processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                flat = [processor(v) for v in flat]
        values.append(flat)
    conn.exec_driver_sql(str(compiled), list(zip(*values, strict=True)))


def sqlite_multirow_insert(conn: Connection, table: sa.Table, columns: Columns,
                           order: Sequence[str],
                           constants: Mapping[str, Any] | None = None) -> bool:
    """Insert all-numeric columns into SQLite with multi-row INSERT statements.

    Why: SQLite's per-statement overhead dominates one-row inserts; binding up to 1000 rows per
    statement costs less than the bare one-row executemany, which pays for turning NumPy
    columns into Python values. `constants` (e.g. the pass name) are bound once per
    statement through `INSERT ... SELECT ?, column1, ... FROM (VALUES ...)`. One float64
    matrix, turned into Python floats (in C) one statement's rows at a time, so the values
    die young and their memory stays in the CPU cache (converting all at once made this
    insert ~25% slower). SQLite stores integral REALs in INTEGER columns as integers and NaN
    as NULL. Returns False (nothing done) when the
    columns do not fit that scheme (text, times, integers beyond 2**53).
    """
    arrays = [columns[name] for name in order]
    if any(a.dtype.kind not in "iuf" for a in arrays):
        return False
    if any(a.dtype.kind in "iu" and len(a) and np.abs(a).max() >= 2**53 for a in arrays):
        return False
    total = len(arrays[0]) if arrays else 0
    if total == 0:
        return True
    matrix = np.column_stack(arrays).astype(np.float64, copy=False)
    non_finite = ~np.isfinite(matrix)
    if non_finite.any():
        matrix[non_finite] = np.nan  # stored as NULL, as on the other databases
    width = len(order)
    dbapi = conn.connection.dbapi_connection
    limit = dbapi.getlimit(9) if hasattr(dbapi, "getlimit") else 999  # VARIABLE_NUMBER
    per_statement = max(1, min(MULTIROW_ROWS, (limit - len(constants or ())) // width))
    quote = conn.dialect.identifier_preparer.quote
    fixed = dict(constants or {})
    names = [*fixed, *order]
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
    if fixed:
        picked = ", ".join(["?"] * len(fixed) + [f"column{i + 1}" for i in range(width)])
        head += f"SELECT {picked} FROM (VALUES "
        tail = ")"
    else:
        head += "VALUES "
        tail = ""
    first = tuple(fixed.values())
    one_row = "(" + ", ".join("?" * width) + ")"
    full_sql = head + ", ".join([one_row] * per_statement) + tail
    for start in range(0, total, per_statement):
        chunk = matrix[start:start + per_statement]
        sql = (full_sql if len(chunk) == per_statement
               else head + ", ".join([one_row] * len(chunk)) + tail)
        conn.exec_driver_sql(sql, first + tuple(chunk.ravel().tolist()))
    return True


def delete_events(conn: Connection, table: sa.Table, runs: np.ndarray, cameras: np.ndarray,
                  events: np.ndarray, pass_name: str) -> None:
    """Delete the rows of the given (run, camera, event) keys of one pass, a chunk of events
    at a time."""
    if len(events) == 0:
        return
    pairs = np.unique(np.stack([runs, cameras]), axis=1)
    for run, camera in pairs.T.tolist():
        mask = (runs == run) & (cameras == camera)
        selected = np.unique(events[mask]).tolist()
        for start in range(0, len(selected), DELETE_CHUNK):
            chunk = selected[start:start + DELETE_CHUNK]
            conn.execute(sa.delete(table).where(
                table.c.pass_name == pass_name, table.c.run == run, table.c.camera == camera,
                table.c.event.in_(chunk)))


def delete_run(conn: Connection, table: sa.Table, run: int, camera: int | None,
               pass_name: str) -> int:
    """Delete a run's rows of one pass (one camera, or all); returns the number deleted."""
    statement = sa.delete(table).where(table.c.pass_name == pass_name, table.c.run == run)
    if camera is not None:
        statement = statement.where(table.c.camera == camera)
    return conn.execute(statement).rowcount


def insert_missing(conn: Connection, table: sa.Table,
                   records: Sequence[Mapping[str, Any]]) -> None:
    """Insert records whose primary key is not there yet; existing rows stay as they are."""
    if not records:
        return
    keys = key_columns(table)
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        statement = mysql_dialect.insert(table)
        statement = statement.on_duplicate_key_update({keys[0]: statement.inserted[keys[0]]})
    elif name == "sqlite":
        statement = sqlite_dialect.insert(table).on_conflict_do_nothing(
            index_elements=list(keys))
    else:
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(statement, list(records))


def upsert(conn: Connection, table: sa.Table, records: Iterable[Mapping[str, Any]]) -> None:
    """Insert records, or update the columns they name when the primary key already exists."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record), []).append(record)
    keys = key_columns(table)
    for names, group in groups.items():
        missing = [k for k in keys if k not in names]
        if missing:
            raise OutputError(f"{table.name}: records need their key columns {missing}")
        unknown = [n for n in names if n not in table.c]
        if unknown:
            raise OutputError(f"{table.name} has no columns {unknown}")
        updates = [n for n in names if n not in keys]
        conn.execute(_upsert_statement(conn, table, keys, updates), group)


def _upsert_statement(conn: Connection, table: sa.Table, keys: Sequence[str],
                      updates: Sequence[str]) -> Any:
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        statement = mysql_dialect.insert(table)
        targets = updates or list(keys)[:1]
        return statement.on_duplicate_key_update({n: statement.inserted[n] for n in targets})
    if name in ("sqlite", "postgresql"):  # the same ON CONFLICT API in both dialects
        if name == "sqlite":
            statement = sqlite_dialect.insert(table)
        else:
            from sqlalchemy.dialects import postgresql

            statement = postgresql.insert(table)
        if not updates:
            return statement.on_conflict_do_nothing(index_elements=list(keys))
        return statement.on_conflict_do_update(
            index_elements=list(keys), set_={n: statement.excluded[n] for n in updates})
    raise OutputError(f"upserts are not supported on {name} (use SQLite, MariaDB/MySQL "
                      "or PostgreSQL)")
