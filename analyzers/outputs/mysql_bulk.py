"""Fast inserts into MySQL/MariaDB with `LOAD DATA LOCAL INFILE` from a private folder.

Why: the pure-Python MySQL driver formats every value of an `executemany` in Python
(~9,000 cluster rows/s here). Arrow writes the same columns as a tab-separated file in C++ and
the server parses it, several times faster. Values never enter the SQL text: the statement names
only our own table, our own columns and the file. The driver may send files from one folder
only (`allow_local_infile_in_path`), so a hostile server cannot ask for any other file.

Servers that forbid LOCAL INFILE (MySQL 8's default) are detected on first use; the writer then
falls back to `executemany` for the rest of its life.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from .batch import Columns, column_length, columns_to_arrow
from .errors import OutputError

log = logging.getLogger(__name__)

# LOCAL INFILE refused: 1148 (MySQL), 4166 (MariaDB), 3948/3950 (MySQL 8), 2068 (client).
LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950, 4166}

CHUNK_ROWS = 20_000

_WRITE_OPTIONS = pa_csv.WriteOptions(
    include_header=False, delimiter="\t", quoting_style="needed", null_string="\\N",
    batch_size=8192,
)


class LocalInfileRefused(Exception):
    """The server or driver does not allow LOAD DATA LOCAL INFILE."""


class MySqlBulkLoader:
    """Writes column batches as TSV files in `directory` and loads them with LOAD DATA."""

    def __init__(self, directory: Path, chunk_rows: int = CHUNK_ROWS) -> None:
        self.directory = directory
        self.chunk_rows = chunk_rows

    def insert(self, conn: Connection, table: sa.Table, columns: Columns,
               order: Sequence[str]) -> None:
        """Insert all rows of `columns` (names in `order`) into `table`, in this transaction."""
        total = column_length(columns)
        if total == 0:
            return
        statement = self._statement(conn, table, order)
        arrow = _escape_strings(columns_to_arrow(columns, order))
        chunks = [arrow.slice(start, self.chunk_rows)
                  for start in range(0, total, self.chunk_rows)]
        paths = [self.directory / f"{table.name}-{uuid.uuid4().hex}.tsv" for _ in chunks]
        # Arrow formats chunk i+1 (in C++, without the GIL) while the server loads chunk i.
        with ThreadPoolExecutor(max_workers=1) as formatter:
            pending = formatter.submit(_write_tsv, chunks[0], paths[0])
            try:
                for index, chunk in enumerate(chunks):
                    pending.result()
                    if index + 1 < len(chunks):
                        pending = formatter.submit(_write_tsv, chunks[index + 1],
                                                   paths[index + 1])
                    result = self._load(conn, statement, paths[index])
                    paths[index].unlink(missing_ok=True)
                    if result.rowcount not in (-1, chunk.num_rows):
                        raise OutputError(f"bulk load into {table.name} stored "
                                          f"{result.rowcount} of {chunk.num_rows} rows")
            finally:
                pending.cancel()
                with contextlib.suppress(Exception):
                    pending.result()
                for path in paths:
                    path.unlink(missing_ok=True)

    @staticmethod
    def _load(conn: Connection, statement: str, path: Path) -> sa.CursorResult:
        try:
            return conn.exec_driver_sql(statement, (os.fspath(path),))
        except exc.DBAPIError as err:
            if getattr(err.orig, "errno", None) in LOCAL_INFILE_REFUSED:
                raise LocalInfileRefused(str(err.orig)) from None
            raise

    @staticmethod
    def _statement(conn: Connection, table: sa.Table, order: Sequence[str]) -> str:
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in order)
        # %s is the driver's bound parameter (the file name); the rest is fixed text.
        return (f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(table.name)} "
                "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' OPTIONALLY ENCLOSED BY '\"' "
                f"ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})")


def _write_tsv(chunk: pa.Table, path: Path) -> None:
    pa_csv.write_csv(chunk, str(path), _WRITE_OPTIONS)


def _escape_strings(table: pa.Table) -> pa.Table:
    """Double every backslash in text columns: the file's escape character is the backslash."""
    for index, column in enumerate(table.columns):
        if pa.types.is_string(column.type) and column.null_count < len(column):
            escaped = pc.replace_substring(column, "\\", "\\\\")
            table = table.set_column(index, table.field(index), escaped)
    return table


def make_private_dir(prefix: str = "cygno-sql-load-") -> Path:
    """A folder only we can read, for the bulk files (0700)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix))


def is_mysql(conn_or_dialect_name: str) -> bool:
    return conn_or_dialect_name in ("mysql", "mariadb")
