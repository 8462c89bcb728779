"""The package as it is built and installed, not as it sits in the checkout.

The wheel and the sdist built from this tree hold every package and data file of it
(tests/dist_contents.py, which .ci/wheel runs on what it builds too), and the wheel knows
the commit it was built from.  .ci/wheel goes on to install that wheel in a fresh
virtualenv and run every program the README names from there.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import dist_contents
import pytest

from cygno_mw import build_info

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist, and the wheel built from it, as `python -m build` makes them (with this
    environment's setuptools: no download)."""
    pytest.importorskip("build", reason="the `build` package (test extra)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation",
                           "--skip-dependency-check", "-o", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_wheel_and_sdist_hold_every_package_and_data_file(dist):
    assert dist_contents.check(dist) == []


def test_the_wheel_holds_the_programs_a_deployment_runs(dist):
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("cygno_mw/analyzers/uploader/program.py",
                   "cygno_mw/analyzers/reprocess/campaign.py",
                   "cygno_mw/analyzers/outputs/migrations/alembic.ini",
                   "cygno_mw/analyzers/outputs/migrations/script.py.mako",
                   "cygno_mw/odb_templates/custom/cygno_online.js"):
        assert module in names


def test_the_wheel_knows_its_commit_as_the_checkout_describes_it(dist):
    (wheel,) = dist.glob("*.whl")
    stamped = zipfile.ZipFile(wheel).read("cygno_mw/BUILD_COMMIT").decode().strip()
    assert stamped == build_info.revision()
    assert stamped != "unknown"


def test_a_file_left_out_is_named():
    files = ["analyzers/uploader/program.py", "analyzers/outputs/migrations/alembic.ini",
             "README.md"]
    expected = dist_contents.expected_in_wheel(files)
    assert "cygno_mw/analyzers/uploader/program.py" in expected
    assert "cygno_mw/analyzers/outputs/migrations/alembic.ini" in expected
    assert not any(name.endswith("README.md") for name in expected)


def test_every_package_of_the_tree_is_found(tmp_path):
    """setup.py's packages are found below each mapped folder, never listed by hand."""
    names = set(dist_contents.setup_module().namespace_packages())
    for prefix, folder in dist_contents.namespace().items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            package = ".".join((prefix, *relative.parts))
            assert package in names, f"{init}: not a package of the wheel"
