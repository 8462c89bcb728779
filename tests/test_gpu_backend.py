"""The backend's CuPy requirements, checked without a GPU."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from cygno_mw.errors import ConfigError
from cygno_mw.gpu.backend import MIN_CUPY, cupy_available, cupy_version_ok, get_backend

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("version", "ok"),
    [("13.6.0", False), ("14.0.1", False), ("14.1.1", False), ("14.2.0", True),
     ("14.10.0", True), ("15.0.0a1", True), ("v14", False), ("", False)],
)
def test_cupy_versions_without_empty_bincount_or_int64_atomics_are_refused(version, ok):
    """CuPy 13-14.1 raise on bincount([]) (an image whose points form no cluster) and on
    int64 scatter_max/min (cluster extents); the GPU backend is not offered with them."""
    assert cupy_version_ok(version) is ok


def test_setup_cfg_asks_for_the_same_cupy():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    extras = cfg["options.extras_require"]
    for extra in ("gpu", "gpu-cuda12"):
        floor = re.search(r"cupy-cuda\d+x>=(\d+)\.(\d+)", extras[extra])
        assert floor and (int(floor[1]), int(floor[2])) == MIN_CUPY, extra


@pytest.mark.skipif(cupy_available(), reason="a usable GPU is present")
def test_asking_for_cupy_without_it_names_the_version_needed():
    with pytest.raises(ConfigError, match=r"CuPy >= 14\.2"):
        get_backend("cupy")
