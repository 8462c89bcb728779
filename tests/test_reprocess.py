"""`cygno-mw reprocess` on a real Dask LocalCluster: files into a named pass (idempotent),
a corrupt file reported and the rest processed; a worker killed mid-task (its task rerun,
no duplicate rows); the uploader's chunks from moto's S3 (a corrupt chunk reported and
skipped) and `--follow` picking up a run from the chunks table."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from cygno_mw.analyzers.outputs import migrate
from cygno_mw.analyzers.outputs.database import RetryPolicy, create_db_engine
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

distributed = pytest.importorskip("distributed")

SHAPE = (512, 512)
SMALL = ("reco.xmax=512", "reco.ymin=0", "reco.ymax=512", "reco.backend=numpy")
SET = [a for s in SMALL for a in ("--set", s)]
MIX = SignalMix(fe55=3, muon=1, nr=0, er=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    made = {
        "pedestal": simulate_run(folder / "run00020.mid.lz4", 20, 3, pedestal=True,
                                 shape=SHAPE, with_pmt=False).path,
        "a": simulate_run(folder / "run00021.mid.lz4", 21, 4, shape=SHAPE, with_pmt=False,
                          mix=MIX).path,
        "b": simulate_run(folder / "run00022.mid.lz4", 22, 30, shape=SHAPE, with_pmt=False,
                          mix=MIX).path,
    }
    corrupt = folder / "run00023.mid.lz4"
    corrupt.write_bytes(os.urandom(5000))
    made["corrupt"] = corrupt
    return made


AWS_ENV = {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
           "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes (test S3 credentials in their environment)."""
    from distributed import Client, LocalCluster

    with pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                             dashboard_address=":0")
        client = Client(local)
        yield client
        client.close()
        local.close()


def macro_counts(out: Path, pass_name: str) -> dict[int, tuple[int, int]]:
    """run -> (rows, distinct events) in the pass's macro table."""
    engine = sa.create_engine(f"sqlite:///{out / 'cygno.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT run, COUNT(*), COUNT(DISTINCT event) FROM macro WHERE pass_name = :p "
            "GROUP BY run"), {"p": pass_name})
        found = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    engine.dispose()
    return found


def test_files_into_a_pass_idempotent_and_a_corrupt_file_reported(runs, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(runs[k]) for k in ("corrupt", "a", "pedestal", "b")]
    args = ["reprocess", "-o", str(out), "--pass", "dask1", "-j", "2", *SET]
    assert main([*args, *files]) == 1  # the corrupt file failed; the others are done
    text = capsys.readouterr().out
    assert "3 runs processed" in text and "1 failed" in text and "FAILED run00023" in text
    first = macro_counts(out, "dask1")
    assert first == {21: (4, 4), 22: (30, 30)}
    assert main([*args, str(runs["a"]), str(runs["b"])]) == 0  # again: replaced, not doubled
    assert macro_counts(out, "dask1") == first
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        assert db.runs(22).loc[0, "reco_status"] == "done"


def test_a_worker_killed_mid_task_reruns_it_without_duplicates(runs, tmp_path, cluster):
    from cygno_mw.analyzers.reprocess.campaign import run_campaign
    from cygno_mw.analyzers.reprocess.inputs import file_item
    from cygno_mw.analyzers.reprocess.tasks import TaskOptions

    out = tmp_path / "out"
    options = TaskOptions("killed", str(out), SMALL)
    run_campaign(cluster, [file_item(str(runs["pedestal"]))], options)
    pids = cluster.run(os.getpid)
    report: dict = {}
    worker = threading.Thread(target=lambda: report.setdefault("r", run_campaign(
        cluster, [file_item(str(runs["b"]))], options)))
    worker.start()
    deadline = time.monotonic() + 60
    killed = None
    while killed is None and time.monotonic() < deadline:
        for address, keys in cluster.processing().items():
            if keys and address in pids:
                time.sleep(0.5)  # well into the run
                os.kill(pids[address], signal.SIGKILL)
                killed = pids[address]
                break
        time.sleep(0.05)
    assert killed is not None, "the task never started"
    worker.join(180)
    result = report["r"]
    assert not result.failures and result.results[0]["worker_pid"] != killed
    assert macro_counts(out, "killed") == {22: (30, 30)}


@pytest.mark.s3
def test_chunks_from_s3_a_corrupt_one_skipped_and_follow(runs, tmp_path, cluster, s3_server,
                                                         monkeypatch, capsys):
    from cygno_mw.analyzers.outputs.s3_store import S3Store
    from cygno_mw.analyzers.reprocess.campaign import run_campaign
    from cygno_mw.analyzers.reprocess.follow import follow
    from cygno_mw.analyzers.reprocess.inputs import chunk_items, file_item
    from cygno_mw.analyzers.reprocess.tasks import TaskOptions
    from cygno_mw.analyzers.uploader.chunker import Chunker
    from cygno_mw.analyzers.uploader.shipper import Shipper
    from cygno_mw.analyzers.uploader.spool import ChunkSpool
    from cygno_mw.midasfile import open_midas
    from cygno_mw.midasfile.event import encode_event

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    s3_server.start()
    store = S3Store("cygno-reprocess", prefix="lime", endpoint_url=s3_server.endpoint_url,
                    retry=RetryPolicy(attempts=1))
    store.client.create_bucket(Bucket="cygno-reprocess")
    out = tmp_path / "out"
    engine = create_db_engine(f"sqlite:///{out / 'cygno.sqlite'}")
    migrate.upgrade(engine)
    # the uploader's work on run 22: chunks of 10 events on S3, recorded in SQL
    spool = ChunkSpool(tmp_path / "spool")
    chunker = Chunker(spool, max_bytes=1)  # one event per chunk...
    with open_midas(runs["b"]) as midas:
        chunker.begin_run(22, midas.bor_odb)
        chunker.max_bytes = 10 * 512 * 512 * 2  # ...then ten
        for event in midas.events():
            chunker.add(encode_event(event.event_id, list(event.banks.values()),
                                     event.serial_number, event.timestamp))
        chunker.end_run(midas.eor_odb)
    shipper = Shipper(spool, store, engine)
    while shipper.ship_one().shipped is not None:
        pass
    items = chunk_items(engine)
    assert len(items) == 1 and len(items[0].sources) >= 4
    bad = items[0].sources[2].split("/", 3)[3]  # one chunk damaged on S3
    store.client.put_object(Bucket="cygno-reprocess", Key=bad, Body=os.urandom(3000))

    set_s3 = (*SMALL, f"output.s3_endpoint_url={s3_server.endpoint_url}")
    options = TaskOptions("chunks", str(out), set_s3)
    run_campaign(cluster, [file_item(str(runs["pedestal"]))], options)
    report = run_campaign(cluster, items, options)
    assert not report.failures and report.partial == [22]
    skipped = report.results[0]["skipped_chunks"]
    assert len(skipped) == 1 and bad.rsplit("/", 1)[1] in skipped[0]
    rows, distinct = macro_counts(out, "chunks")[22]
    assert rows == distinct == 30 - 10  # the damaged chunk's ten events are missing

    # --follow: the complete run in the chunks table is picked up within seconds
    started = time.monotonic()
    seen_at: list[float] = []
    seen = follow(cluster, engine, TaskOptions("follow", str(out), set_s3), poll_s=0.2,
                  stop_after_s=4, on_report=lambda r: seen_at.append(time.monotonic()))
    assert [r["run"] for r in seen.results] == [22]
    assert macro_counts(out, "follow")[22] == (20, 20)
    assert len(seen_at) == 1 and seen_at[0] - started < 30

    # the command line, by run number (the chunks table names the chunks)
    assert main(["reprocess", "-o", str(out), "--pass", "cli", "-j", "1", *SET, "--set",
                 f"output.s3_endpoint_url={s3_server.endpoint_url}", "22"]) == 3  # partial
    assert macro_counts(out, "cli")[22] == (20, 20)
    captured = capsys.readouterr()
    assert "chunk skipped: run00022_00002.mid.lz4: unreadable" in captured.out
    assert "run 22: partial" in captured.out and "22 partial" in captured.err


@pytest.mark.parametrize("asked, host", [(None, "127.0.0.1"), ("0.0.0.0:0", "0.0.0.0")])
def test_dashboard_listens_on_loopback_unless_asked(asked, host) -> None:
    """Issue 27, item 15: the local cluster's Dask dashboard (no authentication) listened
    on every interface; it binds to loopback unless `--dashboard` names another address."""
    import argparse

    from cygno_mw.cli.reprocess import _connect, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["-j", "1", *(["--dashboard", asked] if asked else [])])
    args.verbose = 0
    client, cluster = _connect(args)
    try:
        server = cluster.scheduler.http_server
        bound = {sock.getsockname()[0] for sock in server._sockets.values()}
    finally:
        client.close()
        cluster.close()
    assert bound == {host}
