"""The uploader against the session's live MIDAS experiment (marked `midas`), moto's S3 server
and SQLite: a camera frontend sends events, mlogger writes its run file, the uploader
(`cygno-mw analyzer uploader`, started as MIDAS starts it) sends chunks.

- S3 stopped during the run: the chunks wait in the spool (status yellow), and when S3 is
  back they are sent in order;
- the same, and the uploader killed (SIGKILL) while it sends the spool, then restarted.

Either way every chunk is on S3 exactly once with the SHA-256 its SQL row has, and every
camera event of mlogger's run file is in exactly one chunk.
"""

from __future__ import annotations

import collections
import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from live_midas import LIVE_MIDAS, idle_client, start_program, stop_program, wait_for
from servers import TcpProxy

pytestmark = [*LIVE_MIDAS, pytest.mark.s3]

INDEX = 7
EVENT_ID = 10 + INDEX
CAMERA = f"/Equipment/Camera{INDEX}"
NAME = "Uploader"
UPLOADER = "/Equipment/Uploader"
BUCKET = "cygno-live-chunks"


@pytest.fixture(scope="module")
def camera(midas_experiment) -> Iterator[Any]:
    crew = idle_client(midas_experiment)
    crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 5.0, "Sim pool": 2, "ROI width": 256,
                                        "ROI height": 128, "ROI x0": 64, "ROI y0": 128},
                 remove_unspecified_keys=False)
    process = start_program(midas_experiment, ["frontend", "camera", "-i", str(INDEX)],
                            f"Camera Frontend {INDEX}", timeout=60)
    yield process
    stop_program(process)


@pytest.fixture()
def setup(tmp_path, midas_experiment, camera, s3_server, monkeypatch) -> Iterator[dict]:
    s3_server.start()
    proxy = TcpProxy(s3_server.port)
    proxy.start()
    env = {"AWS_ACCESS_KEY_ID": "cygno-test", "AWS_SECRET_ACCESS_KEY": "cygno-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in env.items():
        monkeypatch.setitem(midas_experiment.env, key, value)
        monkeypatch.setenv(key, value)
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    make_bucket(s3)
    crew = idle_client(midas_experiment)
    database = tmp_path / "chunks.sqlite"
    crew.odb_set(f"{UPLOADER}/Settings", {
        "Spool dir": str(tmp_path / "spool"), "Chunk max MB": 64.0, "Chunk max s": 0.3,
        "S3 endpoint URL": proxy.url, "S3 bucket": BUCKET, "S3 prefix": "lime",
        "Database URL": f"sqlite:///{database}", "Retry s": 0.3,
        "Statistics interval s": 0.2, "Upload run files": True, "Run file min age s": 0.5,
        "Spool limit MB": 20480.0, "Spool alarm percent": 80.0},
        remove_unspecified_keys=False)
    yield {"crew": crew, "s3": s3, "database": database, "proxy": proxy}
    proxy.stop()


def make_bucket(s3: Any) -> None:
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)


def stop_s3(setup: dict) -> None:
    setup["proxy"].stop()


def start_s3(setup: dict) -> None:
    setup["proxy"].start()


def start_uploader(experiment: Any) -> Any:
    """The uploader, once it reads the buffer (its first statistics replace "Starting")."""
    crew = experiment.crew
    if crew.odb_exists(f"{UPLOADER}/Common/Status"):
        crew.odb_set(f"{UPLOADER}/Common/Status", "Starting")
    process = start_program(experiment, ["analyzer", "uploader"], NAME, timeout=60)
    wait_for(lambda: crew.odb_get(f"{UPLOADER}/Common/Status") != "Starting"
             or process.poll() is not None, 60, "the uploader to be ready")
    return process


def statistic(crew: Any, key: str) -> Any:
    return crew.odb_get(f"{UPLOADER}/Statistics/{key}")


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


def storage_status(database: Path, run: int) -> int | None:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT storage_cloud_status FROM runs WHERE run = :r"),
                                {"r": run}).scalar()
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def run_with_s3_down(setup: dict, experiment: Any) -> int:
    """A run of ~3 s whose second half finds S3 stopped; returns its number."""
    crew = setup["crew"]
    crew.start_run()
    run = int(crew.odb_get("/Runinfo/Run number"))
    crew.wait(1.5)
    stop_s3(setup)
    wait_for(lambda: statistic(crew, "Waiting for") == "S3", 30, "the uploader to see S3 down")
    assert crew.odb_get(f"{UPLOADER}/Common/Status color") == "yellowLight"
    crew.wait(1.5)
    crew.stop_run()
    assert statistic(crew, "Backlog chunks") >= 1
    return run


def check_run(setup: dict, experiment: Any, run: int) -> list[dict]:
    """Every chunk on S3 exactly once and as recorded; every camera event in one chunk."""
    from cygno_mw.midasfile import open_midas

    s3, database = setup["s3"], setup["database"]
    rows = wait_for(lambda: [r for r in chunk_rows(database, run)] if any(
        r["last_chunk"] for r in chunk_rows(database, run)) else None, 60,
        "the run's last chunk in SQL")
    assert [r["sequence"] for r in rows] == list(range(len(rows)))
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"lime/run{run:05d}/chunks/")
    keys = [o["Key"] for o in listing.get("Contents", [])]
    assert sorted(keys) == sorted(r["s3_key"].split("/", 3)[3] for r in rows)
    seen: collections.Counter = collections.Counter()
    scratch = setup["database"].parent / f"chunks{run}"
    scratch.mkdir()
    for row in rows:
        key = row["s3_key"].split("/", 3)[3]
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == row["sha256"] and len(body) == row["bytes"]
        path = scratch / key.rsplit("/", 1)[1]
        path.write_bytes(body)
        with open_midas(path) as chunk:
            serials = [e.serial_number for e in chunk.events(EVENT_ID)]
        seen.update(serials)
        span = json.loads(row["serials"]).get(str(EVENT_ID))
        if serials:
            assert span == [serials[0], serials[-1]]
    logged = experiment.data_dir / f"run{run:05d}.mid.lz4"
    wait_for(logged.exists, 30, "mlogger's run file")
    with open_midas(logged) as midas_file:
        expected = [e.serial_number for e in midas_file.events(EVENT_ID)]
    assert expected, "the camera sent nothing"
    assert all(count == 1 for count in seen.values()), "an event in two chunks"
    assert sorted(seen) == sorted(expected)
    return rows


def test_s3_outage_spools_and_drains(setup, midas_experiment):
    crew = setup["crew"]
    uploader = start_uploader(midas_experiment)
    try:
        run = run_with_s3_down(setup, midas_experiment)
        start_s3(setup)
        wait_for(lambda: statistic(crew, "Backlog chunks") == 0
                 and statistic(crew, "Waiting for") == "", 60, "the spool to drain")
        rows = check_run(setup, midas_experiment, run)
        assert len(rows) >= 3
        assert crew.odb_get(f"{UPLOADER}/Common/Status color") == "greenLight"
        # mlogger's closed run file too, checked and marked in its Run row
        key = f"lime/run{run:05d}/run{run:05d}.mid.lz4"
        wait_for(lambda: storage_status(setup["database"], run) == 1, 60,
                 "the run file's Run row marked on the cloud")
        body = setup["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == (midas_experiment.data_dir / f"run{run:05d}.mid.lz4").read_bytes()
    finally:
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)


def test_killed_while_sending_the_spool_and_restarted(setup, midas_experiment):
    crew = setup["crew"]
    uploader = start_uploader(midas_experiment)
    try:
        run = run_with_s3_down(setup, midas_experiment)
        backlog = statistic(crew, "Backlog chunks")
        start_s3(setup)
        prefix = f"lime/run{run:05d}/chunks/"
        wait_for(lambda: setup["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix).get(
            "KeyCount", 0) >= 1, 60, "the first upload")
        uploader.send_signal(signal.SIGKILL)
        uploader.wait(30)
        at_kill = setup["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"]
        wait_for(lambda: not any(c.get("Name") == NAME
                                 for c in crew.odb_get("/System/Clients").values()),
                 60, "MIDAS to forget the killed uploader")
        uploader = start_uploader(midas_experiment)
        wait_for(lambda: statistic(crew, "Backlog chunks") == 0
                 and statistic(crew, "Waiting for") == "", 60, "the spool to drain")
        rows = check_run(setup, midas_experiment, run)
        assert len(rows) >= backlog
        assert at_kill < len(rows), "killed after the spool was sent: nothing tested"
    finally:
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)


def test_a_full_spool_rings_the_alarm_holds_the_daq_and_loses_nothing(setup, midas_experiment):
    crew = setup["crew"]
    crew.odb_set(f"{UPLOADER}/Settings/Spool limit MB", 0.4)  # a few chunks of 64 kB events
    uploader = start_uploader(midas_experiment)
    alarm = "/Alarms/Alarms/Uploader spool full/Triggered"
    try:
        crew.start_run()
        run = int(crew.odb_get("/Runinfo/Run number"))
        stop_s3(setup)
        wait_for(lambda: crew.odb_exists(alarm) and crew.odb_get(alarm) > 0, 60,
                 "the spool alarm")
        wait_for(lambda: crew.odb_get(f"{UPLOADER}/Common/Status color") == "redLight", 30,
                 "the status to say the spool is full")
        assert statistic(crew, "Spool MB") < 0.4 + 0.2  # bounded: reading stopped
        crew.wait(1.0)  # the camera waits meanwhile (GET_ALL)
        start_s3(setup)
        wait_for(lambda: statistic(crew, "Backlog chunks") <= 1
                 and statistic(crew, "Waiting for") == "", 60, "the spool to drain")
        wait_for(lambda: crew.odb_get(alarm) == 0, 30, "the alarm reset")
        crew.wait(1.0)
        crew.stop_run()
        check_run(setup, midas_experiment, run)
    finally:
        crew.odb_set(f"{UPLOADER}/Settings/Spool limit MB", 20480.0)
        midas_experiment.jsonrpc("cm_shutdown", {"name": NAME, "unique": True})
        stop_program(uploader, timeout=60)
