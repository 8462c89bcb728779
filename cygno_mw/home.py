"""Where the embedded default results live when nothing else is configured.

`$CYGNO_MW_HOME` names the folder; without it, `./cygno-out` of the current folder (what
`cygno-mw demo` and `cygno-mw replay` write).  The database there is `cygno.sqlite`.
`$CYGNO_DB_URL` overrides the database (not the folder).  Readers such as
`cygno_mw.connect()` turn the folder into an absolute path and say which one they use, so
a notebook started elsewhere never reads an unexpected file silently.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CYGNO_MW_HOME"
DEFAULT_HOME = "cygno-out"
DATABASE_NAME = "cygno.sqlite"


def home_dir() -> Path:
    """$CYGNO_MW_HOME, else ./cygno-out (relative, as the command line has always used it)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def home_database_url(home: Path | None = None) -> str:
    """sqlite URL of the default database in `home` (default: `home_dir()`)."""
    return f"sqlite:///{(home or home_dir()) / DATABASE_NAME}"


def find_database() -> tuple[str, str]:
    """(URL, how it was found) of the database a reader uses when given none.

    $CYGNO_DB_URL, else $CYGNO_MW_HOME/cygno.sqlite, else the nearest `cygno-out/cygno.sqlite`
    in the current folder or above it (a notebook under examples/ finds the demo's results
    in the repository folder), else ./cygno-out/cygno.sqlite (which does not exist yet).
    """
    from cygno_mw.analyzers.outputs.credentials import DB_URL_ENV

    if os.environ.get(DB_URL_ENV):
        return os.environ[DB_URL_ENV], f"${DB_URL_ENV}"
    if os.environ.get(HOME_ENV):
        return home_database_url(home_dir().resolve()), f"${HOME_ENV}"
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_HOME / DATABASE_NAME
        if candidate.is_file():
            return home_database_url(candidate.parent), (
                "./cygno-out" if folder == here else f"the nearest cygno-out above {here}")
    return home_database_url(here / DEFAULT_HOME), "./cygno-out (does not exist yet)"
