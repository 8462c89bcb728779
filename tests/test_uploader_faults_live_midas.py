"""The uploader under faults, against the session's live MIDAS experiment (marked `midas`),
moto's S3 server and SQLite, with a camera frontend sending events (issue 27):

- killed with SIGKILL 40 times during a run and restarted each time: every chunk number of
  the run from 0 to its last chunk, every event in at most one chunk, and the events it
  misses only those that reached the buffer while it was down (item 3);
- its spool on a full disk (a 1.5 MB tmpfs in a user and mount namespace of its own): the
  alarm rings, the DAQ waits, a SIGKILL and restart meanwhile do not crash it in recovery,
  and once S3 is back the spool drains and the run is complete in S3 and SQL, with one-line
  messages and no traceback (item 4);
- the spool's size limit holds: on disk, never more than the limit and one event (item 4);
- a password written into its `Database URL` is refused (old value kept, MIDAS message) and
  never reaches the begin-of-run ODB dump of the run's first chunk on S3 (item 14).
"""

from __future__ import annotations

import contextlib
import json
import random
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from live_midas import (
    LIVE_MIDAS,
    connected,
    idle_client,
    start_program,
    stop_program,
    wait_for,
)
from servers import TcpProxy, free_port

pytestmark = [*LIVE_MIDAS, pytest.mark.s3]

INDEX = 6
EVENT_ID = 10 + INDEX
CAMERA = f"/Equipment/Camera{INDEX}"
NAME = "Uploader"
UPLOADER = "/Equipment/Uploader"
BUCKET = "cygno-faults"
KILLS = 40
SECRET = "Pw-27b-never-stored"


@pytest.fixture(scope="module")
def camera(midas_experiment) -> Iterator[Any]:
    crew = idle_client(midas_experiment)
    crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 100.0, "Sim pool": 2, "ROI width": 64,
                                        "ROI height": 64, "ROI x0": 64, "ROI y0": 128},
                 remove_unspecified_keys=False)
    process = start_program(midas_experiment, ["frontend", "camera", "-i", str(INDEX)],
                            f"Camera Frontend {INDEX}", timeout=60)
    yield process
    stop_program(process)


@pytest.fixture()
def setup(tmp_path, midas_experiment, camera, s3_server, monkeypatch) -> Iterator[dict]:
    s3_server.start()
    env = {"AWS_ACCESS_KEY_ID": "cygno-test", "AWS_SECRET_ACCESS_KEY": "cygno-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in env.items():
        monkeypatch.setitem(midas_experiment.env, key, value)
        monkeypatch.setenv(key, value)
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    crew = idle_client(midas_experiment)
    database = tmp_path / "chunks.sqlite"
    crew.odb_set(f"{UPLOADER}/Settings", {
        "Spool dir": str(tmp_path / "spool"), "Chunk max MB": 64.0, "Chunk max s": 0.02,
        "S3 endpoint URL": s3_server.endpoint_url, "S3 bucket": BUCKET, "S3 prefix": "lime",
        "Database URL": f"sqlite:///{database}", "Retry s": 0.3,
        "Statistics interval s": 0.2, "Upload run files": False,
        "Spool limit MB": 20480.0, "Spool alarm percent": 80.0, "Transition timeout s": 10.0},
        remove_unspecified_keys=False)
    yield {"crew": crew, "s3": s3, "database": database, "spool": tmp_path / "spool"}


def start_uploader(experiment: Any) -> Any:
    """The uploader, once it reads the buffer (its first statistics replace "Starting")."""
    crew = experiment.crew
    if crew.odb_exists(f"{UPLOADER}/Common/Status"):
        crew.odb_set(f"{UPLOADER}/Common/Status", "Starting")
    process = start_program(experiment, ["analyzer", "uploader"], NAME, timeout=60)
    wait_for(lambda: crew.odb_get(f"{UPLOADER}/Common/Status") != "Starting"
             or process.poll() is not None, 60, "the uploader to be ready")
    assert process.poll() is None, "the uploader exited"
    return process


def forgotten(crew: Any) -> bool:
    return not any(c.get("Name") == NAME for c in crew.odb_get("/System/Clients").values())


def chunk_rows(database: Path, run: int) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(
                "SELECT * FROM chunks WHERE run = :run ORDER BY sequence"), {"run": run})]
    except sa.exc.OperationalError:
        return []
    finally:
        engine.dispose()


def shipped_run(setup: dict, run: int) -> list[dict]:
    return wait_for(lambda: (rows := chunk_rows(setup["database"], run)) and any(
        r["last_chunk"] for r in rows) and rows, 120, "the run's last chunk in SQL")


def spooled(spool: Path, run: int) -> tuple[list[int], list[list[int]], list[dict]]:
    """(chunk numbers, camera serials per chunk, manifests) of the run's spooled chunks."""
    from cygno_mw.midasfile import open_midas

    manifests = sorted((json.loads(p.read_text()) for p in
                        (spool / "ready").glob(f"run{run:05d}_*.mid.lz4.json")),
                       key=lambda m: m["sequence"])
    per_chunk = []
    for manifest in manifests:
        with open_midas(spool / "ready" / manifest["name"]) as chunk:
            per_chunk.append([e.serial_number for e in chunk.events(EVENT_ID)])
    return [m["sequence"] for m in manifests], per_chunk, manifests


def test_forty_kills_lose_no_taken_event_and_leave_no_chunk_number_unused(
        setup, midas_experiment, tmp_path):
    """One event a chunk (`Chunk max MB` below an event's size), so that the kills land
    while chunks are being opened and closed; S3 unreachable, so they all stay in the
    spool, where they are checked."""
    crew = setup["crew"]
    rng = random.Random(27)
    crew.odb_set(f"{UPLOADER}/Settings", {"Chunk max MB": 0.001,
                                          "S3 endpoint URL": f"http://127.0.0.1:{free_port()}"},
                 remove_unspecified_keys=False)
    uploader = start_uploader(midas_experiment)
    try:
        crew.start_run()
        run = int(crew.odb_get("/Runinfo/Run number"))
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.05, 0.6))
            uploader.send_signal(signal.SIGKILL)
            uploader.wait(30)
            wait_for(lambda: forgotten(crew), 60, "MIDAS to forget the killed uploader")
            uploader = start_uploader(midas_experiment)
        crew.wait(0.5)
        crew.stop_run()
        wait_for(lambda: any('"last_chunk": true' in p.read_text() for p in (
            setup["spool"] / "ready").glob(f"run{run:05d}_*.json")), 60,
            "the run's last chunk spooled")
    finally:
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
    sequences, per_chunk, manifests = spooled(setup["spool"], run)
    assert sequences == list(range(len(sequences))), (
        f"chunk numbers skipped: {sorted(set(range(max(sequences) + 1)) - set(sequences))}")
    assert manifests[-1]["last_chunk"]
    for manifest, serials in zip(manifests, per_chunk, strict=True):
        span = manifest["serials"].get(str(EVENT_ID))
        assert span == ([serials[0], serials[-1]] if serials else None)
    seen = [s for serials in per_chunk for s in serials]
    assert len(seen) == len(set(seen)), "an event in two chunks"
    from cygno_mw.midasfile import open_midas

    logged = midas_experiment.data_dir / f"run{run:05d}.mid.lz4"
    wait_for(logged.exists, 30, "mlogger's run file")
    with open_midas(logged) as midas_file:
        sent = [e.serial_number for e in midas_file.events(EVENT_ID)]
    assert len(sent) > 4 * KILLS, "too few events to hit a kill"
    assert set(seen) <= set(sent)
    # what it misses reached the buffer while no uploader was reading: one stretch of
    # consecutive events per kill at most (an event lost while an uploader was reading
    # would open a stretch of its own), and nothing after the last restart
    taken = set(seen)
    stretches = sum(1 for i, s in enumerate(sent)
                    if s not in taken and (i == 0 or sent[i - 1] in taken))
    assert stretches <= KILLS
    after_last = [s for s in sent if s > max(taken)]
    assert not after_last, f"events after the last restart missed: {after_last}"
    assert len(taken) > KILLS


def test_a_password_in_the_database_url_is_refused_and_never_dumped(
        setup, midas_experiment, tmp_path):
    crew = setup["crew"]
    database = setup["database"]
    good = f"sqlite:///{database}"
    crew.odb_set(f"{UPLOADER}/Settings/Database URL", f"mysql://cygno:{SECRET}@db.invalid/x")
    uploader = start_uploader(midas_experiment)
    try:
        assert SECRET not in crew.odb_get(f"{UPLOADER}/Settings/Database URL")
        messages = " ".join(crew.get_recent_messages(30))
        assert "must not contain a password" in messages and SECRET not in messages
        # while it runs: refused at once, the value in use kept
        crew.odb_set(f"{UPLOADER}/Settings/Database URL", good)  # not applied until restart
        crew.odb_set(f"{UPLOADER}/Settings/Database URL",
                     f"mysql://cygno:{SECRET}@db.invalid/x")
        wait_for(lambda: SECRET not in crew.odb_get(f"{UPLOADER}/Settings/Database URL"), 30,
                 "the password refused")
        # a password elsewhere in the ODB (the analyzer's URL) is hidden in the dump too
        crew.odb_set("/Analyzer/Parameters/Output/database_url",
                     f"mysql://cygno:{SECRET}@db.invalid/x")
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
        crew.odb_set(f"{UPLOADER}/Settings/Database URL", good)
        uploader = start_uploader(midas_experiment)
        crew.start_run()
        run = int(crew.odb_get("/Runinfo/Run number"))
        crew.wait(0.5)
        crew.stop_run()
        rows = shipped_run(setup, run)
    finally:
        crew.odb_set("/Analyzer/Parameters/Output/database_url", "")
        crew.odb_set(f"{UPLOADER}/Settings/Database URL", good)
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
    for row in rows:
        body = setup["s3"].get_object(Bucket=BUCKET, Key=row["s3_key"].split("/", 3)[3])
        data = body["Body"].read()
        import lz4.frame

        assert SECRET.encode() not in lz4.frame.decompress(data)


@pytest.fixture()
def small_disk(tmp_path) -> Iterator[dict]:
    """A 1.5 MB tmpfs at `tmp_path/spool`, in a user and mount namespace that a sleeping
    process holds; programs are run inside it with `enter` (nsenter)."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("no unshare/nsenter: cannot make a small filesystem")
    mount = tmp_path / "spool"
    mount.mkdir()
    holder = subprocess.Popen(
        ["unshare", "-rm", "sh", "-c",
         f"mount -t tmpfs -o size=1536k tmpfs {shlex.quote(str(mount))} && echo ready "
         "&& exec sleep 3600"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert holder.stdout is not None
    line = holder.stdout.readline().strip()
    if line != "ready":
        holder.kill()
        holder.wait()
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {line}")
    enter = ["nsenter", "-t", str(holder.pid), "-U", "-m", "--preserve-credentials", "--"]
    yield {"path": mount, "enter": enter}
    holder.kill()
    holder.wait()


def start_uploader_in(experiment: Any, enter: list[str]) -> Any:
    from cygno_mw.odb_install import cygno_mw_command

    crew = experiment.crew
    if crew.odb_exists(f"{UPLOADER}/Common/Status"):
        crew.odb_set(f"{UPLOADER}/Common/Status", "Starting")
    process = experiment.spawn([*enter, *shlex.split(cygno_mw_command()), "analyzer",
                                "uploader"], NAME)
    wait_for(lambda: connected(crew, NAME) or process.poll() is not None, 60,
             "the uploader to connect")
    wait_for(lambda: process.poll() is not None
             or crew.odb_get(f"{UPLOADER}/Common/Status") != "Starting", 60,
             "the uploader to be ready")
    assert process.poll() is None, "the uploader exited"
    return process


def test_a_full_spool_disk_holds_the_daq_and_the_uploader_survives_it(
        setup, midas_experiment, small_disk, s3_server):
    crew = setup["crew"]
    proxy = TcpProxy(s3_server.port)  # S3 down until the proxy starts
    log = midas_experiment.directory / f"{NAME}.log"
    log_start = log.stat().st_size if log.exists() else 0
    crew.odb_set(f"{UPLOADER}/Settings", {
        "Spool dir": str(small_disk["path"]), "Chunk max MB": 0.25, "Chunk max s": 0.3,
        "S3 endpoint URL": proxy.url}, remove_unspecified_keys=False)
    alarm = "/Alarms/Alarms/Uploader spool full/Triggered"
    uploader = start_uploader_in(midas_experiment, small_disk["enter"])
    try:
        crew.start_run()
        run = int(crew.odb_get("/Runinfo/Run number"))
        wait_for(lambda: "disk full" in crew.odb_get(f"{UPLOADER}/Common/Status"), 60,
                 "the uploader to find the disk full")
        assert crew.odb_get(f"{UPLOADER}/Common/Status color") == "redLight"
        wait_for(lambda: crew.odb_exists(alarm) and crew.odb_get(alarm) > 0, 30, "the alarm")

        def held() -> bool:  # nothing taken for a second: the DAQ waits (GET_ALL)
            before = crew.odb_get(f"{UPLOADER}/Statistics/Events")
            crew.wait(1.0)
            return crew.odb_get(f"{UPLOADER}/Statistics/Events") == before

        wait_for(held, 60, "the full disk to hold the DAQ")
        assert uploader.poll() is None
        # killed on the full disk and restarted: recovery needs room it has not got
        uploader.send_signal(signal.SIGKILL)
        uploader.wait(30)
        wait_for(lambda: forgotten(crew), 60, "MIDAS to forget the killed uploader")
        uploader = start_uploader_in(midas_experiment, small_disk["enter"])
        crew.wait(1.0)
        assert uploader.poll() is None, "the uploader crashed on the full disk"
        proxy.start()  # S3 back: the spool drains, the disk has room, events flow again
        wait_for(lambda: "disk full" not in crew.odb_get(f"{UPLOADER}/Common/Status"), 60,
                 "room on the disk again")
        wait_for(lambda: crew.odb_get(alarm) == 0, 30, "the alarm reset")
        crew.wait(1.0)
        crew.stop_run()
        rows = shipped_run(setup, run)
        wait_for(lambda: crew.odb_get(f"{UPLOADER}/Statistics/Backlog chunks") == 0, 60,
                 "the spool to drain")
    finally:
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
        proxy.stop()
    assert [r["sequence"] for r in rows] == list(range(len(rows)))
    from cygno_mw.midasfile import open_midas

    seen: list[int] = []
    scratch = small_disk["path"].parent / "chunks"
    scratch.mkdir()
    for row in rows:
        key = row["s3_key"].split("/", 3)[3]
        path = scratch / key.rsplit("/", 1)[1]
        path.write_bytes(setup["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
        with open_midas(path) as chunk:
            seen += [e.serial_number for e in chunk.events(EVENT_ID)]
    assert len(seen) == len(set(seen)), "an event in two chunks"
    logged = midas_experiment.data_dir / f"run{run:05d}.mid.lz4"
    wait_for(logged.exists, 30, "mlogger's run file")
    with open_midas(logged) as midas_file:
        sent = [e.serial_number for e in midas_file.events(EVENT_ID)]
    taken = set(seen)
    stretches = sum(1 for i, s in enumerate(sent)
                    if s not in taken and (i == 0 or sent[i - 1] in taken))
    assert stretches <= 1  # the kill's window only: the full disk made the DAQ wait
    text = log.read_bytes()[log_start:].decode(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    messages = crew.get_recent_messages(100)
    assert any("spool disk full" in m for m in messages)


def test_the_spool_limit_holds_on_disk(setup, midas_experiment, s3_server):
    """S3 down, events coming: the spool stops growing at its limit (measured on disk, every
    few milliseconds), with one event's worth of slack."""
    crew = setup["crew"]
    limit_mb = 1.0
    crew.odb_set(f"{UPLOADER}/Settings", {
        "Spool limit MB": limit_mb, "Chunk max MB": 0.25, "Chunk max s": 0.3,
        "Transition timeout s": 1.0,
        "S3 endpoint URL": f"http://127.0.0.1:{free_port()}"}, remove_unspecified_keys=False)
    uploader = start_uploader(midas_experiment)
    spool = setup["spool"]
    sizes: list[int] = []
    done = threading.Event()

    def measure() -> None:
        while not done.is_set():
            total = 0
            for folder in (spool / "ready", spool / "open"):
                for path in folder.glob("*"):
                    with contextlib.suppress(FileNotFoundError):
                        total += path.stat().st_size
            sizes.append(total)
            time.sleep(0.002)

    thread = threading.Thread(target=measure, daemon=True)
    thread.start()
    try:
        crew.start_run()
        wait_for(lambda: crew.odb_get(f"{UPLOADER}/Common/Status").startswith("Spool full"),
                 60, "the spool to fill")
        crew.wait(2.0)
        crew.stop_run()
    finally:
        done.set()
        thread.join(10)
        crew.odb_set(f"{UPLOADER}/Settings/Spool limit MB", 20480.0)
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
    from cygno_mw.midasfile import open_midas

    run = int(crew.odb_get("/Runinfo/Run number"))
    logged = midas_experiment.data_dir / f"run{run:05d}.mid.lz4"
    wait_for(logged.exists, 30, "mlogger's run file")
    with open_midas(logged) as midas_file:
        event_bytes = max(e.header.data_size + 16 for e in midas_file.events(EVENT_ID))
    assert max(sizes) <= limit_mb * (1 << 20) + event_bytes, (
        f"the spool reached {max(sizes) / (1 << 20):.3f} MB, limit {limit_mb} MB")
