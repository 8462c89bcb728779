"""A shift crew's day on a fresh live MIDAS experiment (marked `midas`).

Nothing is done by hand after `cygno-mw odb install`: the four programs are started from the
status page (mhttpd's JSON-RPC `start_program`, so they run as daemons in mhttpd's folder),
runs are started, paused, resumed and stopped through `cm_transition`, and the programs are
stopped and restarted through `cm_shutdown`/`start_program`.  Then mlogger's files are
checked against the frontends' statistics, the online results against `cygno-mw replay` of
those files, and the Run rows.  Small frames (256x256) keep it short; every check is kept.
"""

from __future__ import annotations

import collections
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from live_midas import LIVE_MIDAS, connected, wait_for
from midas_experiment import live_experiment

pytestmark = LIVE_MIDAS

PROGRAMS = ("Camera Frontend 0", "Slow Control Frontend 0", "PMT Frontend 0", "Online Analyzer")
EQUIPMENT = {"Camera0": 10, "PMT0": 20, "SlowControl0": 30}  # name: event id
RUN_S = 6.0


def command() -> list[str]:
    from cygno_mw.odb_install import cygno_mw_command

    return shlex.split(cygno_mw_command())


def install(experiment: Any) -> None:
    """`cygno-mw odb install` on the new experiment (before mhttpd and mlogger start, so the
    SYSTEM buffer is made with the size it sets), then what this test tunes: small frames,
    the reconstruction window fitted to them, the CPU."""
    result = subprocess.run([*command(), "odb", "install"], env=experiment.env,
                            cwd=experiment.directory, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    crew = experiment.crew
    crew.odb_set("/Equipment/Camera0/Settings", {"ROI width": 256, "ROI height": 256,
                                                 "ROI x0": 1024, "ROI y0": 1024,
                                                 "Sim mix": "fe55=300,muon=5",
                                                 "Frame rate": 3.0, "Sim pool": 2},
                 remove_unspecified_keys=False)
    crew.odb_set("/Analyzer/Parameters/Reco", {
        "xmax": 256, "ymin": 0, "ymax": 256, "backend": "numpy", "batch_size": 1,
        "vignette_map": "none"}, remove_unspecified_keys=False)
    crew.odb_set("/Analyzer/Parameters/Output/reco_file_format", "none")


@pytest.fixture(scope="module")
def experiment() -> Iterator[Any]:
    with live_experiment(install) as fresh:
        yield fresh


STATE_AFTER = {"TR_START": 3, "TR_STOP": 1, "TR_PAUSE": 2, "TR_RESUME": 3}


def transition(experiment: Any, name: str) -> None:
    """A run transition as the status page asks for it; mhttpd runs it in the background,
    so wait until it is over."""
    result = experiment.jsonrpc("cm_transition", {"transition": name})
    assert result["status"] == 1, result
    crew = experiment.crew
    wait_for(lambda: crew.odb_get("/Runinfo/State") == STATE_AFTER[name]
             and not crew.odb_get("/Runinfo/Transition in progress"), 60, f"{name} done")


def run_number(experiment: Any) -> int:
    return int(experiment.crew.odb_get("/Runinfo/Run number"))


def last_run(crew: Any) -> int | None:
    return (crew.odb_get_or("/Analyzer/Reco/Last run") or {}).get("Run")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def file_counts(path: Path) -> collections.Counter:
    from cygno_mw.midasfile.reader import open_midas

    with open_midas(path) as midas_file:
        return collections.Counter(e.header.event_id for e in midas_file.events(banks=[]))


def test_a_shift_on_a_fresh_experiment(experiment, tmp_path):
    from cygno_mw.analyzers.outputs.query import Database

    crew = experiment.crew
    for name in PROGRAMS:
        program = crew.odb_get(f"/Programs/{name}")
        assert "First failed" in program and program["Start command"].endswith("-D")
    assert crew.odb_exists("/Configurations/Exposure")
    assert not crew.odb_get("/Configurations/Pedestal")
    assert crew.odb_get("/Experiment/MAX_EVENT_SIZE") >= 32 << 20

    for name in PROGRAMS:
        experiment.jsonrpc("start_program", {"name": name})
    wait_for(lambda: all(connected(crew, n) for n in PROGRAMS), 120, "the programs to start")
    for equipment in EQUIPMENT:
        wait_for(lambda e=equipment: crew.odb_get(f"/Equipment/{e}/Common/Status color")
                 == "greenLight", 30, f"{equipment} green")

    # a pedestal run, then a physics run with a pause
    crew.odb_set("/Configurations/Pedestal", True)
    transition(experiment, "TR_START")
    pedestal_run = run_number(experiment)
    crew.wait(3.0)
    transition(experiment, "TR_STOP")
    wait_for(lambda: last_run(crew) == pedestal_run, 120, "the pedestal run analyzed")
    crew.odb_set("/Configurations/Pedestal", False)

    transition(experiment, "TR_START")
    run = run_number(experiment)
    crew.wait(RUN_S / 2)
    transition(experiment, "TR_PAUSE")
    assert crew.odb_get("/Runinfo/State") == 2
    crew.wait(1.0)
    transition(experiment, "TR_RESUME")
    assert crew.odb_get("/Runinfo/State") == 3
    crew.wait(RUN_S / 2)
    transition(experiment, "TR_STOP")
    crew.wait(4.0)  # MIDAS's frontends write their statistics every 3 s
    sent = {e: int(crew.odb_get(f"/Equipment/{e}/Statistics/Events sent")) for e in EQUIPMENT}

    # two runs back to back; the analyzer is restarted from the status page in the second
    transition(experiment, "TR_START")
    run_a = run_number(experiment)
    crew.wait(3.0)
    transition(experiment, "TR_STOP")
    transition(experiment, "TR_START")
    run_b = run_number(experiment)
    crew.wait(1.5)
    experiment.jsonrpc("cm_shutdown", {"name": "Online Analyzer", "unique": True})
    wait_for(lambda: not connected(crew, "Online Analyzer"), 60, "the analyzer to stop")
    experiment.jsonrpc("start_program", {"name": "Online Analyzer"})
    wait_for(lambda: connected(crew, "Online Analyzer"), 60, "the analyzer to come back")
    crew.wait(3.0)
    transition(experiment, "TR_STOP")
    wait_for(lambda: last_run(crew) == run_b, 120, f"run {run_b} analyzed after the restart")
    joined = crew.odb_get("/Analyzer/Reco/Last run")

    # every program stopped as from the status page: it leaves, its statistics written
    pids = {name: pid for name, pid in experiment.client_pids().items() if name in PROGRAMS}
    assert len(pids) == len(PROGRAMS)
    for name in PROGRAMS:
        experiment.jsonrpc("cm_shutdown", {"name": name, "unique": True})
    for name, pid in pids.items():
        wait_for(lambda p=pid: not alive(p), 60, f"{name} to exit")
    data = experiment.data_dir
    last_counts = file_counts(data / f"run{run_b:05d}.mid.lz4")
    assert crew.odb_get("/Equipment/Camera0/Statistics/Events sent") == last_counts[10]
    statistics = crew.odb_get("/Analyzer/Reco/Statistics")
    assert statistics["Events received"] > 0 and statistics["Run state"] == "stopped"

    # mlogger's file holds exactly what the frontends report having sent
    counts = file_counts(data / f"run{run:05d}.mid.lz4")
    assert {e: counts[i] for e, i in EQUIPMENT.items()} == sent
    assert all(n > 0 for n in sent.values())

    # the online results: in the experiment folder, never in mhttpd's
    assert not (experiment.mhttpd_home / "cygno-out").exists()
    online = Database(f"sqlite:///{experiment.directory / 'cygno-out' / 'cygno.sqlite'}")
    row = online.runs(run).iloc[0]
    assert row["reco_status"] == "done"
    assert row["start_time"] is not None and row["stop_time"] is not None
    assert int(row["number_of_events"]) == counts[10] == int(row["reco_events"])
    assert float(row["exposure_s"]) == pytest.approx(0.3)
    row_a = online.runs(run_a).iloc[0]
    assert int(row_a["number_of_events"]) == file_counts(data / f"run{run_a:05d}.mid.lz4")[10]
    assert joined["Events analyzed"] > 0

    # the replay of mlogger's files finds the same clusters
    replayed = subprocess.run(
        [*command(), "replay", "-q", "-o", str(tmp_path / "replay"),
         str(data / f"run{pedestal_run:05d}.mid.lz4"), str(data / f"run{run:05d}.mid.lz4")],
        capture_output=True, text=True, timeout=300, env=experiment.env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    replay = Database(f"sqlite:///{tmp_path / 'replay' / 'cygno.sqlite'}")
    for table in ("reco", "macro"):
        keys = ["camera", "event"] + (["cluster"] if table == "reco" else [])
        mine = getattr(online, table)(run).sort_values(keys).reset_index(drop=True)
        theirs = getattr(replay, table)(run).sort_values(keys).reset_index(drop=True)
        assert len(mine) == len(theirs)
        numeric = [c for c in mine.columns if c.startswith(("sc_", "nclusters", "cmos_"))]
        pd.testing.assert_frame_equal(mine[keys + numeric], theirs[keys + numeric],
                                      check_dtype=False, rtol=1e-9)  # NaN equals NaN
    assert len(online.macro(run)) == counts[10]
    assert len(online.reco(run)) > 0  # clusters found, so the comparison above means something

    # MIDAS found every record whole: no struct fix-ups of our /Programs or /Equipment
    log = (experiment.directory / "midas.log").read_text()
    fixups = [line for line in log.splitlines()
              if "correct" in line.lower() and "/Runinfo" not in line]  # /Runinfo: MIDAS's own
    assert fixups == []


def test_odb_install_on_a_running_experiment_says_to_recreate_system():
    """Raising the sizes while mhttpd and mlogger run takes effect only once SYSTEM is
    created again: the installer says so; after it, `odb diff` finds nothing to change."""
    with live_experiment() as running:
        # and start commands that still run our old module paths become program commands,
        # flags kept, while a command someone wrote stays as it is
        assert running.crew is not None
        old = f"{sys.executable} -m cygno_mw.analyzers.online_analyzer --name \"Online " \
              'Analyzer 2" -D'
        running.crew.odb_set("/Programs/Online Analyzer 2/Start command", old)
        running.crew.odb_set("/Programs/Gas Logger/Start command", "/home/shift/gaslog.sh")
        installed = subprocess.run([*command(), "odb", "install"], env=running.env,
                                   cwd=running.directory, capture_output=True, text=True,
                                   timeout=120)
        assert installed.returncode == 0, installed.stderr
        assert "start mhttpd and mlogger again" in installed.stdout
        assert "Logger" in installed.stdout and "mhttpd" in installed.stdout
        assert "updated /Programs/Online Analyzer 2/Start command" in installed.stdout
        assert running.crew.odb_get("/Programs/Online Analyzer 2/Start command") == \
            " ".join([*command(), 'analyzer online --name "Online Analyzer 2" -D'])
        assert running.crew.odb_get("/Programs/Gas Logger/Start command") == \
            "/home/shift/gaslog.sh"
        diff = subprocess.run([*command(), "odb", "diff"], env=running.env,
                              cwd=running.directory, capture_output=True, text=True,
                              timeout=120)
        assert diff.returncode == 0, diff.stdout
