"""Shared fixtures: where the real CYGNO data lives, and the MIDAS stand-in for unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Real servers (MariaDB, moto S3, victoria-metrics) as session fixtures: tests/servers.py;
# the live MIDAS experiment for the tests marked `midas`: tests/midas_experiment.py.
pytest_plugins = ("servers", "midas_experiment", "browser")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CYGNO_SHARED", REPO.parent / "shared"))
SHARED_DATA = Path(os.environ.get("CYGNO_SHARED_DATA", SHARED / "data" / "cygno"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public CYGNO data; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CYGNO data not found at {SHARED_DATA} (set CYGNO_SHARED_DATA)")
    return SHARED_DATA


def _use_midas_standin() -> None:
    """Put the test stand-in for MIDAS's Python package first on this process's sys.path.

    The unit tests run our programs in this process against the stand-in (fast, and with
    helpers such as `standin.request_shutdown`); the tests marked `midas` run them as
    processes of their own on the real package and a live experiment (midas_experiment.py),
    and test_midas_standin_vs_real.py holds the stand-in to the real package.  Subprocesses
    never see the stand-in: only this process's sys.path changes.
    """
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent / "midas_standin"))


_use_midas_standin()


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory):
    """The CUDA kernels built with g++ for the host (tests/cuda_host.py), once a session:
    the kernel tests and the experiment-frame tests run the same build."""
    import cuda_host

    from cygno_mw.gpu import cuda_kernels

    cxx = cuda_host.find_cxx()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or $CXX) to build the CUDA kernels for the host")
    return cuda_host.build_host(
        cuda_kernels.standalone_sources(), tmp_path_factory.mktemp("cuda_host"), cxx
    )
