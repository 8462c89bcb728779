"""cygno-mw: data middleware of the CYGNO optical time-projection chamber.

The top-level package holds what frontends and analyzers share: the MIDAS event and
file format (`cygno_mw.midasfile`), the detector simulation (`cygno_mw.simulation`)
and the command line (`cygno_mw.cli`).  The user's folders are installed beneath it
as `cygno_mw.frontends`, `cygno_mw.analyzers` and `cygno_mw.gpu`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the query library pulls in SQLAlchemy and pandas: only when connecting
    from cygno_mw.analyzers.outputs.query import Database

__version__ = "0.1.0"


def connect(url: str | None = None, *, announce: bool = True) -> Database:
    """The query library (`Database`: .runs, .reco, .macro, .slow_control, .pedestals) on
    `url`, else on $CYGNO_DB_URL, else on the results under $CYGNO_MW_HOME or the nearest
    ./cygno-out; that choice is printed.  Imports SQLAlchemy and pandas only when called."""
    from cygno_mw.connection import connect as _connect

    return _connect(url, announce=announce)
