"""`cygno_mw.connect()`: the query library in two lines, for notebooks and scripts.

    import cygno_mw
    db = cygno_mw.connect()          # or connect("mysql+mysqlconnector://reader@db/cygno")
    clusters = db.reco(2, where="sc_integral > 1000")

Without a URL the database is found as `cygno_mw.home.find_database` says, and the choice
is printed once, so nobody reads a database they did not mean to.
"""

from __future__ import annotations

import sys
from typing import Any


def connect(url: str | None = None, *, announce: bool = True) -> Any:
    """A `cygno_mw.analyzers.outputs.query.Database` for `url` or the default database."""
    from cygno_mw.analyzers.outputs.credentials import safe_url
    from cygno_mw.analyzers.outputs.query import Database
    from cygno_mw.home import find_database

    if url is not None:
        return Database(url)
    found, how = find_database()
    database = Database(found)
    if announce:
        print(f"cygno_mw.connect: {safe_url(database.url)} (from {how})", file=sys.stderr)
    return database
