"""Importing MIDAS's Python package, with a message that says how to install the right one.

MIDAS ships its Python package in $MIDASSYS/python (import name `midas`); the PyPI project
called `midas` is an unrelated product, so `pip install midas` must never be suggested.
"""

from __future__ import annotations

import importlib

from cygno_mw.errors import CygnoError

INSTALL_HINT = (
    "MIDAS's Python package is not importable. Install the one shipped with MIDAS: "
    "`pip install -e $MIDASSYS/python` (with $MIDASSYS pointing at your MIDAS build; its "
    "lib/ must hold libmidas-c-compat). Do not `pip install midas`: that PyPI project is an "
    "unrelated product."
)


class MidasNotInstalled(CygnoError):
    """The `midas` package (from $MIDASSYS/python) cannot be imported."""


def require_midas() -> None:
    """Import midas, midas.client, midas.frontend and midas.event, or raise MidasNotInstalled."""
    try:
        for name in ("midas", "midas.client", "midas.event", "midas.frontend"):
            importlib.import_module(name)
    except ImportError as exc:
        raise MidasNotInstalled(f"{INSTALL_HINT} (import error: {exc})") from exc
