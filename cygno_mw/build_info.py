"""Which cygno-mw this is: the version (one place, `cygno_mw.__version__`) and the commit
it was built from.  `cygno-mw --version` prints `describe()`; every processing pass records
`version()` and `revision()` (analyzers/provenance.py), so a result names the same code.

Running from a git checkout (an editable install) the revision is `git describe` of that
checkout, asked once per process; an installed wheel or sdist carries the commit it was
built from in `cygno_mw/BUILD_COMMIT`, written by setup.py at build time.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

COMMIT_FILE = Path(__file__).with_name("BUILD_COMMIT")
CHECKOUT = Path(__file__).resolve().parent.parent  # the repository root in a checkout


def version() -> str:
    from cygno_mw import __version__

    return str(__version__)


@functools.lru_cache(maxsize=1)
def revision() -> str:
    """`git describe --always --dirty --tags` of the checkout this code runs from, else the
    commit the installed package was built from, else 'unknown'."""
    if (CHECKOUT / ".git").exists() and (CHECKOUT / "setup.py").is_file():
        try:
            done = subprocess.run(["git", "-C", str(CHECKOUT), "describe", "--always",
                                   "--dirty", "--tags"], capture_output=True, text=True,
                                  timeout=10, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    if COMMIT_FILE.is_file():
        return COMMIT_FILE.read_text().strip() or "unknown"
    return "unknown"


def describe() -> str:
    """`cygno-mw 0.1.0 (commit 8956498)`: what `cygno-mw --version` prints."""
    return f"cygno-mw {version()} (commit {revision()})"
