"""A test experiment leaves nothing in /dev/shm, even when its programs were killed."""

from __future__ import annotations

import signal
from pathlib import Path

from live_midas import LIVE_MIDAS
from midas_experiment import live_experiment

pytestmark = LIVE_MIDAS


def _shared_memory_of(directory: Path) -> list[Path]:
    tag = str(directory).rstrip("/").replace("/", "_") + "_"
    return sorted(Path("/dev/shm").glob(f"*{tag}"))


def test_killed_programs_leave_no_odb_or_buffers_in_dev_shm():
    with live_experiment() as experiment:
        directory = experiment.directory
        assert _shared_memory_of(directory), "MIDAS keeps its ODB in /dev/shm"
        for process in experiment.processes:  # a crash: no clean disconnect
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert _shared_memory_of(directory) == []
