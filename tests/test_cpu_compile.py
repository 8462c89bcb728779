"""First run on a fresh machine: the CPU kernels are compiled once, before any run starts,
with one line saying so; an interrupt during the compilation is one line, not a traceback.

Each test runs `cygno-mw demo` in a process of its own on an empty Numba cache
($NUMBA_CACHE_DIR in a temporary folder), as a fresh machine has it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MESSAGE = "compiling the CPU reconstruction, once"


def demo(out: Path, cache: Path, **popen: object) -> subprocess.Popen:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-m", "cygno_mw", "demo", "-q", "--no-plots",
                             "-o", str(out), "--events", "3", "--pedestal-events", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **popen)


def test_a_fresh_machine_compiles_once_before_the_runs_and_says_so(tmp_path):
    cache = tmp_path / "numba-cache"
    first = demo(tmp_path / "one", cache)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    lines = (out + err).splitlines()
    said = [n for n, line in enumerate(lines) if line.startswith(MESSAGE)]
    assert len(said) == 1, out + err
    first_run = next(n for n, line in enumerate(lines) if line.startswith("pedestal run 1:"))
    assert said[0] < first_run  # compiled before the run: its images/s never counts it

    # every kernel is in the cache now (warm_up compiles each one real data uses)
    check = subprocess.run([sys.executable, "-c", "import json; from cygno_mw.gpu.cpu_compile "
                            "import uncached; print(json.dumps(uncached()))"],
                           env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)),
                           capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(check.stdout) == []

    second = demo(tmp_path / "two", cache)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, out + err
    assert MESSAGE not in out + err


def test_ctrl_c_while_compiling_is_one_line(tmp_path):
    running = demo(tmp_path / "out", tmp_path / "numba-cache", start_new_session=True)
    assert running.stdout is not None
    for line in running.stdout:  # the terminal's Ctrl-C goes to the whole process group
        if line.startswith(MESSAGE):
            time.sleep(3)  # into the compilation, where Numba and LLVM run ctypes callbacks
            os.killpg(running.pid, signal.SIGINT)
            break
    out, err = running.communicate(timeout=300)
    assert running.returncode == 130, out + err
    assert err.strip() == "cygno-mw demo: interrupted"
