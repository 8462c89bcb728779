"""The README runs as written: its ```sh blocks, in order, after the set-up command.

The set-up command is `bash .ci/demo`: it installs the virtualenv, then runs
`.venv/bin/cygno-mw demo`.  Here the virtualenv is this checkout's (linked into a copy of
the repository) and the demo runs the same way.  ```console blocks (MIDAS, servers, S3,
installs) are not run.  PATH holds no virtualenv, so a bare `cygno-mw` fails as it would for
a new user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall((REPO / "README.md").read_text())
            if lang == language]


def copy_of_the_repository(target: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell the repository's files")
    for name in listed.stdout.splitlines():
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CYGNO_DB_URL", "CYGNO_MW_HOME", "CYGNO_MW_LOG_LEVEL", "VIRTUAL_ENV")}
    venv_bins = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p not in venv_bins)
    env["MPLBACKEND"] = "Agg"
    return env


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=cwd,
                          env=clean_env(), capture_output=True, text=True, timeout=300)


def test_readme_marks_what_it_does_not_run() -> None:
    sh, console = blocks("sh"), blocks("console")
    assert sh and console
    assert any("bash .ci/demo" in block for block in console)
    for block in sh:  # every command runs from the checkout's virtualenv, as written
        for line in block.splitlines():
            words = line.split("#")[0].split()
            assert not words or words[0] != "cygno-mw", line


@pytest.mark.skipif(not Path(sys.prefix, "bin", "cygno-mw").exists(),
                    reason="the cygno-mw console script is not installed in this environment")
def test_readme_runs_verbatim(tmp_path: Path) -> None:
    repo = copy_of_the_repository(tmp_path / "cygno-mw")
    assert run("bash -c 'command -v cygno-mw' || true", repo).stdout == ""
    setup = run(".venv/bin/cygno-mw demo", repo)  # what `bash .ci/demo` runs once installed
    assert setup.returncode == 0, setup.stderr
    assert (repo / "cygno-out" / "plots" / "run00002_spectrum.png").is_file()

    for number, block in enumerate(blocks("sh")):
        done = run(block, repo)
        assert done.returncode == 0, f"README sh block {number}:\n{block}\n{done.stderr}"

    try_lines = setup.stdout.split("\ntry:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert try_lines and all(line.startswith("  .venv/bin/cygno-mw ") for line in try_lines)
    for line in try_lines:
        done = run(line.strip(), repo)
        assert done.returncode == 0, f"demo's try line {line}:\n{done.stderr}"
