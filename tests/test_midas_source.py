"""Where the tests find MIDAS: $MIDASSYS first (a DAQ machine's own build), else the tarball
in ../shared/midas; and a skipped `midas` test fails the run whenever either is there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import midas_bundle
import pytest

TESTS = Path(__file__).resolve().parent


def fake_build(folder: Path) -> Path:
    """A folder that looks like a MIDAS build to the lookup (bin/odbinit, python/)."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "odbinit").write_text("#!/bin/sh\n")
    (folder / "python").mkdir()
    return folder


def fake_shared(folder: Path, with_tarball: bool) -> Path:
    (folder / "midas").mkdir(parents=True)
    if with_tarball:
        (folder / "midas" / "midas-0000-linux-x86_64.tar.xz").write_bytes(b"")
    return folder


def test_midassys_comes_first(tmp_path, monkeypatch):
    build = fake_build(tmp_path / "daq-midas")
    monkeypatch.setenv("MIDASSYS", str(build))
    monkeypatch.setenv("CYGNO_SHARED", str(fake_shared(tmp_path / "shared", True)))
    assert midas_bundle.find_midassys() == build
    assert midas_bundle.midas_source() == f"$MIDASSYS={build}"


def test_a_midassys_without_a_build_falls_back_to_the_tarball(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDASSYS", str(tmp_path / "nothing-here"))
    shared = fake_shared(tmp_path / "shared", True)
    monkeypatch.setenv("CYGNO_SHARED", str(shared))
    assert midas_bundle.midas_source() == str(shared / "midas" / "midas-0000-linux-x86_64.tar.xz")


def test_neither_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDASSYS", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("CYGNO_SHARED", str(fake_shared(tmp_path / "shared", False)))
    assert midas_bundle.find_midassys() is None
    reason = midas_bundle.missing_reason()
    assert "nothing-here" in reason and str(tmp_path / "shared" / "midas") in reason


SKIPPING_SUITE = {
    "conftest.py": f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        pytest_plugins = ("midas_experiment",)

        def pytest_configure(config):
            config.addinivalue_line("markers", "midas: a live MIDAS test")
    """,
    "test_one.py": """
        import pytest

        @pytest.mark.midas
        def test_needs_midas():
            pytest.skip("pretend the experiment would not start")

        def test_plain():
            pass
    """,
}


def run_suite(tmp_path: Path, midassys: Path | None, shared: Path) -> subprocess.CompletedProcess:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name, text in SKIPPING_SUITE.items():
        (suite / name).write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if k not in ("MIDASSYS", "PYTEST_ADDOPTS")}
    env["CYGNO_SHARED"] = str(shared)
    if midassys is not None:
        env["MIDASSYS"] = str(midassys)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           str(suite)], cwd=suite, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("source", ["MIDASSYS", "tarball"])
def test_a_skipped_midas_test_fails_the_run_where_midas_is(tmp_path, source):
    midassys = fake_build(tmp_path / "daq-midas") if source == "MIDASSYS" else None
    shared = fake_shared(tmp_path / "shared", with_tarball=source == "tarball")
    done = run_suite(tmp_path, midassys, shared)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 test(s) marked midas skipped although the MIDAS build is there" in done.stdout
    assert "test_needs_midas" in done.stdout
    if midassys is not None:  # the session's header says which MIDAS it found
        assert f"MIDAS: $MIDASSYS={midassys}" in done.stdout


def test_without_midas_a_skipped_midas_test_is_only_a_skip(tmp_path):
    done = run_suite(tmp_path, None, fake_shared(tmp_path / "shared", with_tarball=False))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "MIDAS: no MIDAS build" in done.stdout
