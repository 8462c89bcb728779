"""The record is sacred: a failed, refused or interrupted attempt leaves every earlier finished
result and its status as it was, and is itself recorded in `attempts` (issues 24 and 27)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lz4.frame
import pytest
import sqlalchemy as sa

from cygno_mw.analyzers.outputs.database import create_db_engine
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 512)
SMALL = ["--set", "reco.xmax=512", "--set", "reco.ymin=0", "--set", "reco.ymax=512",
         "--set", "reco.backend=numpy"]
MIX = SignalMix(fe55=4, muon=1, nr=0, er=0)
DAMAGES = ("brace", "half", "array", "nested", "garbage")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    pedestal = simulate_run(folder / "run00001.mid.lz4", 1, 3, pedestal=True, shape=SHAPE,
                            with_pmt=False)
    physics = simulate_run(folder / "run00002.mid.lz4", 2, 4, shape=SHAPE, with_pmt=False,
                           mix=MIX)
    other = simulate_run(folder / "run00003.mid.lz4", 3, 3, shape=SHAPE, with_pmt=False,
                         mix=MIX)
    long = simulate_run(folder / "run00004.mid.lz4", 4, 120, shape=SHAPE, with_pmt=False,
                        mix=MIX)
    found = {"pedestal": pedestal.path, "physics": physics.path, "other": other.path,
             "long": long.path}
    for kind in DAMAGES:
        broken = folder / f"broken_{kind}" / "run00002.mid"
        broken.parent.mkdir()
        broken.write_bytes(_broken_end_of_run_dump(physics.path, kind))
        found["broken" if kind == "brace" else f"broken_{kind}"] = broken
    return found


def _broken_end_of_run_dump(path: Path, kind: str = "brace") -> bytes:
    """The run file with its end-of-run ODB dump damaged (same length, so the event
    framing holds): its last brace gone, cut in half, an array, nested too deep, garbage."""
    data = bytearray(lz4.frame.decompress(path.read_bytes()))
    header = data.rfind(b"\x01\x80")  # event id 0x8001: the end-of-run dump (JSON is ASCII)
    size = int.from_bytes(data[header + 12:header + 16], "little")
    start, end = header + 16, header + 16 + size
    payload = bytes(data[start:end]).rstrip(b"\0")
    n = len(payload)
    if kind == "brace":
        last = payload.rfind(b"}")
        broken = payload[:last] + b" " + payload[last + 1:]
    elif kind == "half":
        broken = payload[: n // 2].ljust(n)
    elif kind == "array":
        broken = (b"[" + b" " * (n - 2) + b"]")
    elif kind == "nested":
        depth = (n - 1) // 6
        broken = (b'{"a":' * depth + b"1" + b"}" * depth).ljust(n)
    else:
        broken = b"x" * n
    data[start:start + n] = broken[:n]
    return bytes(data)


def replay(out: Path, *args: str) -> int:
    return main(["replay", "-q", "-o", str(out), *SMALL, *args])


def snapshot(out: Path) -> dict[str, object]:
    """Everything a failed attempt must leave as it was."""
    engine = create_db_engine(f"sqlite:///{out / 'cygno.sqlite'}")
    try:
        with engine.connect() as conn:
            def rows(sql: str) -> list[tuple]:
                return [tuple(r) for r in conn.execute(sa.text(sql))]
            return {
                "runs": rows("SELECT run, reco_status, reco_events, number_of_events, "
                             "reco_pass, partial, file_checksum FROM runs ORDER BY run"),
                "pass_runs": rows("SELECT pass_name, run, status, finished_at FROM pass_runs "
                                  "ORDER BY pass_name, run"),
                "passes": rows("SELECT pass_name, status FROM passes ORDER BY pass_name"),
                "reco": rows("SELECT * FROM reco ORDER BY pass_name, run, event, cluster"),
                "macro": rows("SELECT pass_name, run, event, nclusters FROM macro "
                              "ORDER BY pass_name, run, event"),
            }
    finally:
        engine.dispose()


def attempts(out: Path) -> list[tuple]:
    engine = create_db_engine(f"sqlite:///{out / 'cygno.sqlite'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT pass_name, run, status, reason FROM attempts ORDER BY started_at"))]
    finally:
        engine.dispose()


@pytest.fixture()
def good(runs: dict[str, Path], tmp_path: Path) -> Path:
    """Runs 1 (pedestal) and 2 replayed fine into pass `replay`."""
    out = tmp_path / "out"
    assert replay(out, str(runs["pedestal"]), str(runs["physics"])) == 0
    before = snapshot(out)
    assert before["runs"][1][:4] == (2, "done", 4, 4)
    return out


def test_a_good_replay_records_its_attempts(good: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert [a[:3] for a in attempts(good)] == [("replay", 1, "done"), ("replay", 2, "done")]
    assert snapshot(good)["runs"][1][4] == "replay"  # the pass the status reports
    with Database(str(good / "cygno.sqlite")) as db:
        assert list(db.attempts(2)["status"]) == ["done"]
    capsys.readouterr()
    assert main(["sql", "attempts", "2", "--db", str(good / "cygno.sqlite"),
                 "--columns", "pass_name,run,status"]) == 0
    assert "done" in capsys.readouterr().out


def test_missing_pedestal_file_is_refused_before_anything_is_written(
        good: Path, runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    before, tried = snapshot(good), attempts(good)
    assert replay(good, str(runs["physics"]), "--pedestal", str(good / "nosuch.mid.lz4")) == 1
    assert "nosuch.mid.lz4" in capsys.readouterr().err
    assert snapshot(good) == before and attempts(good) == tried


def test_refused_pedestal_pass_leaves_no_trace(good: Path, runs: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A physics run given as --pedestal (exit 2) into a new pass: no pass, no attempt, no
    change to run 3's row (there is none) or run 2's."""
    before, tried = snapshot(good), attempts(good)
    assert replay(good, str(runs["other"]), "--pedestal", str(runs["physics"]),
                  "--pass", "pedtest") == 2
    assert "not a pedestal run" in capsys.readouterr().err
    assert snapshot(good) == before and attempts(good) == tried


def test_broken_end_of_run_dump_commits_nothing_over_the_earlier_result(
        good: Path, runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 27.1: a re-replay from a copy whose end-of-run dump is broken (exit 1) leaves the
    old rows, the run's and the pass's status as they were; the attempt says why it failed."""
    before = snapshot(good)
    assert replay(good, str(runs["broken"])) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert snapshot(good) == before
    last = attempts(good)[-1]
    assert last[:3] == ("replay", 2, "failed") and "not valid JSON" in last[3]


@pytest.mark.parametrize("kind", DAMAGES[1:])
def test_every_damaged_end_of_run_dump_commits_nothing(
        good: Path, runs: dict[str, Path], kind: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(good)
    assert replay(good, str(runs[f"broken_{kind}"])) == 1
    assert "end-of-run" in capsys.readouterr().err
    assert snapshot(good) == before
    assert attempts(good)[-1][:3] == ("replay", 2, "failed")


def test_a_new_pass_whose_run_failed_is_failed(good: Path, runs: dict[str, Path]) -> None:
    """Issue 27.8: a pass is not `finished` while one of its runs has no finished result;
    the run's row still reports its finished pass."""
    assert replay(good, "--pass", "second", str(runs["broken"])) == 1
    state = snapshot(good)
    assert ("second", "failed") in state["passes"]
    assert ("second", 2, "failed") in [r[:3] for r in state["pass_runs"]]
    assert state["runs"][1][:5] == (2, "done", 4, 4, "replay")


def test_run_row_reports_best_finished_pass(good: Path, runs: dict[str, Path]) -> None:
    """A later pass that finishes becomes what the row reports; a later failure does not."""
    assert replay(good, "--pass", "strict", "--set", "reco.nsigma=1.5",
                  str(runs["physics"])) == 0
    assert snapshot(good)["runs"][1][4] == "strict"
    assert replay(good, "--pass", "strict", "--set", "reco.nsigma=1.5",
                  str(runs["broken"])) == 1
    assert snapshot(good)["runs"][1][:5] == (2, "done", 4, 4, "strict")
    with Database(f"sqlite:///{good / 'cygno.sqlite'}") as db:
        assert db.default_passes([2]) == {2: "strict"}


def _interrupt_replay(out: Path, path: Path, sig: int) -> None:
    """Start a replay of `path` in a subprocess, send `sig` once its attempt is running."""
    url = f"sqlite:///{out / 'cygno.sqlite'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cygno_mw", "replay", "-q", "-o", str(out), *SMALL, str(path)],
        env=env, stderr=subprocess.PIPE)
    engine = create_db_engine(url)
    try:
        deadline = time.monotonic() + 120
        started = False
        while time.monotonic() < deadline and process.poll() is None and not started:
            with engine.connect() as conn:
                started = conn.execute(sa.text(
                    "SELECT count(*) FROM attempts WHERE status = 'running'")).scalar() == 1
            time.sleep(0.02)
        assert started and process.poll() is None, "the replay ended before the signal"
        process.send_signal(sig)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, "interrupted"),
                                         (signal.SIGKILL, "running")])
def test_interrupted_re_replay_keeps_the_complete_pass(runs: dict[str, Path], tmp_path: Path,
                                                       sig: int, status: str) -> None:
    """Ctrl-C (or kill -9) of a re-replay leaves the complete pass, its counts and status."""
    out = tmp_path / "out"
    assert replay(out, str(runs["pedestal"]), str(runs["long"])) == 0
    before = snapshot(out)
    assert before["runs"][1][:4] == (4, "done", 120, 120)
    _interrupt_replay(out, runs["long"], sig)
    assert snapshot(out) == before
    assert attempts(out)[-1][:3] == ("replay", 4, status)


def _with_daq_count(path: Path, target: Path, events_sent: int) -> Path:
    """The run file again, its end-of-run ODB saying the camera frontend sent `events_sent`
    events (more than the file holds: the analysis sampled the run)."""
    from cygno_mw.midasfile import MidasWriter, open_midas

    with open_midas(path) as midas:
        events = list(midas.events())
        bor, eor = midas.bor_odb, dict(midas.eor_odb or {})
        writer = MidasWriter(target, midas.run_number, bor, compression="lz4")
    for event in events:
        writer.write(event.event_id, list(event.banks.values()),
                     serial_number=event.serial_number, timestamp=event.timestamp,
                     trigger_mask=event.header.trigger_mask)
    equipment = dict(eor.get("Equipment", {}))
    equipment["Camera0"] = {**dict(equipment.get("Camera0", {})),
                            "Statistics": {"Events sent": events_sent}}
    writer.odb = {**eor, "Equipment": equipment}
    writer.close()
    return target


def test_sampled_run_says_so_and_counts_from_the_daq(
        runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """number_of_events is the DAQ's count (frontends' statistics), not what the analysis
    saw; the skipped events are counted and `sql runs` shows the coverage."""
    out = tmp_path / "out"
    sampled = _with_daq_count(runs["physics"], tmp_path / "run00002.mid.lz4", 10)
    assert replay(out, str(runs["pedestal"]), str(sampled)) == 0
    engine = create_db_engine(f"sqlite:///{out / 'cygno.sqlite'}")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT number_of_events, reco_events, skipped_events, "
                                   "sampled FROM runs WHERE run = 2")).one()
    engine.dispose()
    assert tuple(row) == (10, 4, 6, 1)
    capsys.readouterr()
    assert main(["sql", "runs", "2", "--db", str(out / "cygno.sqlite"),
                 "--columns", "run,number_of_events,skipped_events,reco_events"]) == 0
    assert "4/10" in capsys.readouterr().out


def test_killed_first_attempt_is_closed_by_the_next_process(runs: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """Issue 27.8: a run no pass has finished, whose replay was killed, does not stay
    `running` forever: the next replay on this host finds the dead process's attempt and
    records it `interrupted`, the run `failed` (until a pass finishes it)."""
    out = tmp_path / "out"
    assert replay(out, str(runs["pedestal"])) == 0
    _interrupt_replay(out, runs["long"], signal.SIGKILL)
    assert snapshot(out)["runs"][1][:2] == (4, "running")
    assert replay(out, str(runs["other"])) == 0
    state = snapshot(out)
    assert state["runs"][1][:2] == (3, "done") and state["runs"][2][:2] == (4, "failed")
    assert ("replay", 4, "failed") in [r[:3] for r in state["pass_runs"]]
    killed = [a for a in attempts(out) if a[1] == 4]
    assert killed[0][2] == "interrupted" and "ended without finishing" in killed[0][3]
    assert ("replay", "failed") in state["passes"]  # one of its runs has no result


def test_output_that_cannot_be_written_fails_the_run_not_running(runs: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    """Issue 27.8: an output that cannot be written (a full disk; here the reco folder is a
    file) fails the run with the reason recorded; nothing stays `running`."""
    out = tmp_path / "out"
    assert replay(out, str(runs["pedestal"])) == 0
    assert not (out / "reco").exists()  # a pedestal run writes no reco file
    (out / "reco").write_text("not a folder")
    assert replay(out, str(runs["other"])) == 1
    state = snapshot(out)
    assert state["runs"][1][:2] == (3, "failed")
    last = attempts(out)[-1]
    assert last[:3] == ("replay", 3, "failed") and last[3]
