"""The uploader under faults, against the session's live MIDAS experiment (marked `midas`),
moto's S3 server and SQLite, with a camera frontend sending events (issue 27):

- killed with SIGKILL 40 times during a run and restarted each time: every chunk number of
  the run from 0 to its last chunk, every event in at most one chunk, and the events it
  misses only those that reached the buffer while it was down (item 3);
- a password written into its `Database URL` is refused (old value kept, MIDAS message) and
  never reaches the begin-of-run ODB dump of the run's first chunk on S3 (item 14).
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from live_midas import LIVE_MIDAS, idle_client, start_program, stop_program, wait_for
from servers import free_port

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
        "Spool limit MB": 20480.0, "Spool alarm percent": 80.0},
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
