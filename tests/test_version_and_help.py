"""`cygno-mw --version` names the version and the commit; a pass records the same; every
command's --help works on a machine without MIDAS's Python package."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cygno_mw
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.analyzers.provenance import pass_record
from cygno_mw.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_version_names_the_version_and_the_commit(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out.strip()
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty",
                           "--tags"], capture_output=True, text=True, check=False)
    commit = done.stdout.strip() if done.returncode == 0 else "unknown"
    assert out == f"cygno-mw {cygno_mw.__version__} (commit {commit})"


def test_a_pass_records_what_version_prints(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    printed = capsys.readouterr().out.strip()
    record = pass_record(AnalyzerParameters.defaults(), "numpy")
    assert printed == f"cygno-mw {record['version']} (commit {record['revision']})"


def test_the_version_is_said_in_one_place():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert config["metadata"]["version"] == "attr: cygno_mw.__version__"


def test_the_notebook_extra_opens_and_runs_the_example_notebook():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    extra = config["options.extras_require"]["notebook"]
    names = {line.split(">")[0].split("=")[0].strip() for line in extra.splitlines() if line}
    assert {"notebook", "ipykernel", "nbclient"} <= names


HELP_WITHOUT_MIDAS = f"""
import contextlib, io, json, sys
sys.modules["midas"] = None          # MIDAS's package is not installed: importing it fails
sys.path.insert(0, {str(REPO / ".ci")!r})
from help_commands import command_lines
from cygno_mw.cli import build_parser, main
from cygno_mw.cli.analyzer import PROGRAMS as ANALYZERS
from cygno_mw.cli.frontend import PROGRAMS as FRONTENDS
lines = command_lines(build_parser())
lines += [f"frontend {{n}}" for n in FRONTENDS] + [f"analyzer {{n}}" for n in ANALYZERS]
failed = {{}}
for line in lines:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main([*line.split(), "--help"])
        except SystemExit as stop:
            code = stop.code
    if code not in (0, None) or "usage:" not in out.getvalue():
        failed[line] = out.getvalue()[-500:]
print(json.dumps({{"count": len(lines), "failed": failed}}))
"""


def test_every_help_works_without_midas():
    done = subprocess.run([sys.executable, "-c", HELP_WITHOUT_MIDAS], capture_output=True,
                          text=True, timeout=300, check=True, cwd=REPO)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["count"] > 20  # every subcommand, nested ones and the MIDAS programs
