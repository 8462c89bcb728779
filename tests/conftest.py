"""Shared fixtures: where the real CYGNO data lives, and the MIDAS stand-in switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Real servers (MariaDB, moto S3, victoria-metrics) as session fixtures: tests/servers.py.
pytest_plugins = ("servers",)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CYGNO_SHARED_DATA", REPO.parent / "shared" / "data" / "cygno"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public CYGNO data; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CYGNO data not found at {SHARED_DATA} (set CYGNO_SHARED_DATA)")
    return SHARED_DATA


def _use_midas_standin_if_absent() -> None:
    """Put the test stand-in for MIDAS's Python package on sys.path, only without the real one.

    The real package ships in $MIDASSYS/python; the PyPI project named `midas` is unrelated.
    """
    import importlib.util
    import sys

    if importlib.util.find_spec("midas") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "midas_standin"))


_use_midas_standin_if_absent()
