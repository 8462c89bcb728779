"""The uploader's core without MIDAS: chunker (size/time/crash recovery), spool, and the
shipper against moto's S3 server and SQLite (S3 down -> spooled, drained in order; a kill
between the steps never uploads twice nor writes a second row)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import sqlalchemy as sa

from cygno_mw.analyzers.outputs import migrate, schema
from cygno_mw.analyzers.outputs.database import RetryPolicy, create_db_engine
from cygno_mw.analyzers.outputs.s3_store import S3Store
from cygno_mw.analyzers.uploader.chunker import Chunker
from cygno_mw.analyzers.uploader.shipper import Shipper
from cygno_mw.analyzers.uploader.spool import READY, ChunkSpool
from cygno_mw.midasfile import open_midas
from cygno_mw.midasfile.event import encode_event

BOR_ODB = {"Runinfo": {"Run number": 7, "Start time binary": 1700000000},
           "Experiment": {"Name": "test"}}


def event(event_id: int, serial: int, size: int = 1000) -> bytes:
    data = np.full(size // 2, serial % 65536, dtype=np.uint16)
    return encode_event(event_id, {"CAM0": data}, serial_number=serial, timestamp=1700000000)


class Clock:
    def __init__(self) -> None:
        self.now = 1700000000.0

    def __call__(self) -> float:
        return self.now


def serials_in(path) -> list[tuple[int, int]]:
    with open_midas(path) as midas:
        return [(e.event_id, e.serial_number) for e in midas]


def test_chunks_close_by_size_and_time_and_are_complete_midas_files(tmp_path) -> None:
    clock = Clock()
    spool = ChunkSpool(tmp_path / "spool")
    chunker = Chunker(spool, max_bytes=5000, max_age_s=10.0, clock=clock)
    chunker.begin_run(7, BOR_ODB)
    for serial in range(12):  # 12 x ~1 kB: closed by size every 5 events
        chunker.add(event(10, serial))
    clock.now += 11
    assert chunker.tick() is not None  # closed by age
    chunker.add(event(30, 0, 100))
    chunker.end_run({"Runinfo": {"Run number": 7, "Stop time binary": 1700000100}})
    pending = spool.pending()
    assert [m.sequence for m in pending] == [0, 1, 2, 3]
    assert [m.events for m in pending] == [5, 5, 2, 1]
    assert pending[0].serials == {"10": [0, 4]} and pending[3].serials == {"30": [0, 0]}
    assert pending[-1].last_chunk and not pending[0].last_chunk
    everything = [s for m in pending for s in serials_in(spool.path(m))]
    assert everything == [(10, s) for s in range(12)] + [(30, 0)]
    with open_midas(spool.path(pending[0])) as first:
        assert first.bor_odb["Experiment"]["Name"] == "test"
        list(first)
        assert first.complete
    with open_midas(spool.path(pending[1])) as later:
        assert later.bor_odb["Runinfo"]["Run number"] == 7


def test_a_crash_mid_chunk_loses_no_written_event(tmp_path) -> None:
    spool = ChunkSpool(tmp_path / "spool")
    chunker = Chunker(spool, max_bytes=1 << 30)
    chunker.begin_run(7, BOR_ODB)
    for serial in range(3):
        chunker.add(event(10, serial))
    journal = chunker.current.journal
    os.close(chunker.current.fd)  # the process dies here: nothing closed, the journal stays
    with open(journal, "ab") as handle:  # ... with its last event cut short
        handle.write(event(10, 3)[:100])
    again = Chunker(ChunkSpool(tmp_path / "spool"), max_bytes=1 << 30)
    recovered = again.recover()
    assert [m.events for m in recovered] == [3] and again.truncated_events == 1
    assert serials_in(spool.path(recovered[0])) == [(10, 0), (10, 1), (10, 2)]
    again.add(event(10, 4), run=7)  # the run goes on in a new chunk, never the same number
    assert again.current.sequence == 1


@pytest.fixture
def store(s3_server, aws_env) -> S3Store:
    s3_server.start()
    made = S3Store("cygno-chunks", prefix="lime", endpoint_url=s3_server.endpoint_url,
                   retry=RetryPolicy(attempts=1, initial_delay=0.1))
    made.client.create_bucket(Bucket="cygno-chunks")
    yield made
    listing = made.client.list_objects_v2(Bucket="cygno-chunks")
    for item in listing.get("Contents", []):
        made.client.delete_object(Bucket="cygno-chunks", Key=item["Key"])
    made.client.delete_bucket(Bucket="cygno-chunks")


def _filled_spool(tmp_path, chunks: int) -> ChunkSpool:
    spool = ChunkSpool(tmp_path / "spool")
    chunker = Chunker(spool, max_bytes=3000)
    chunker.begin_run(7, BOR_ODB)
    for serial in range(3 * chunks):
        chunker.add(event(10, serial))
    chunker.end_run()
    return spool


def _rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(schema.chunks).order_by(schema.chunks.c.sequence))]


@pytest.mark.s3
def test_s3_down_spools_then_drains_in_order_exactly_once(tmp_path, s3_server, store) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    spool = _filled_spool(tmp_path, 3)
    shipper = Shipper(spool, store, engine)
    with s3_server.down():
        result = shipper.ship_one()
        assert result.waiting_for == "S3" and len(spool.pending()) == 4
    store.client.create_bucket(Bucket="cygno-chunks")  # moto keeps its state in memory
    shipped = []
    while (result := shipper.ship_one()).shipped is not None:
        shipped.append(result.shipped.sequence)
    assert shipped == [0, 1, 2, 3] and not spool.pending(), result
    rows = _rows(engine)
    assert [r["sequence"] for r in rows] == [0, 1, 2, 3]
    assert [json.loads(r["serials"]) for r in rows] == [{"10": [0, 2]}, {"10": [3, 5]},
                                                        {"10": [6, 8]}, {}]
    assert [r["last_chunk"] for r in rows] == [False, False, False, True]  # empty: run's end
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket="cygno-chunks")["Contents"]]
    assert keys == [f"lime/run00007/chunks/run00007_{n:05d}.mid.lz4" for n in range(4)]
    for row in rows:
        head = store.client.head_object(Bucket="cygno-chunks", Key=row["s3_key"].split("/", 3)[3])
        assert head["Metadata"]["sha256"] == row["sha256"] and head["ContentLength"] == row["bytes"]


@pytest.mark.s3
def test_kill_between_steps_uploads_once_and_records_once(tmp_path, store) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    spool = _filled_spool(tmp_path, 1)
    manifest = spool.pending()[0]
    shipper = Shipper(spool, store, engine)
    shipper._store(manifest)  # uploaded, then killed before the manifest said so
    manifest.status = READY
    spool.save(manifest)
    result = shipper.ship_one()
    assert result.shipped is not None and not result.uploaded  # found on S3, not sent again
    # killed after the SQL row, before the spool forgot the chunk: redone, not doubled
    shipper._record(manifest)
    assert len(_rows(engine)) == 1
    assert len(store.client.list_objects_v2(Bucket="cygno-chunks")["Contents"]) == 1


@pytest.mark.s3
def test_database_down_keeps_the_chunk_stored_and_spooled(tmp_path, store) -> None:
    spool = _filled_spool(tmp_path, 1)
    bad = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'no' / 'db.sqlite'}")
    result = Shipper(spool, store, bad).ship_one()
    assert result.waiting_for == "database"
    assert spool.pending()[0].status == "stored"  # on S3 already: not sent again later
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    result = Shipper(spool, store, engine).ship_one()
    assert result.shipped is not None and not result.uploaded
    assert len(_rows(engine)) == 1


@pytest.mark.s3
def test_closed_run_files_checked_against_the_run_row_and_marked(tmp_path, store) -> None:
    import hashlib
    import time as clock

    from cygno_mw.analyzers.uploader.runfiles import RunFileShipper

    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    data = tmp_path / "data"
    data.mkdir()
    good, bad, open_ = (data / f"run{n:05d}.mid.lz4" for n in (5, 6, 7))
    for path in (good, bad, open_):
        path.write_bytes(os.urandom(2000))
    (data / "run00005.mid.lz4.crc32c").write_text("not a run file")
    md5 = hashlib.md5(good.read_bytes()).hexdigest()
    with engine.begin() as conn:
        conn.execute(schema.runs.insert(), [{"run": 5, "file_checksum": md5},
                                            {"run": 6, "file_checksum": "0" * 32}])
    shipper = RunFileShipper(store, engine, data, min_age_s=0.0)
    clock.sleep(0.01)
    results = shipper.ship(open_run=7, limit=10)
    assert [(r.run, r.uploaded, bool(r.error)) for r in results] == [(5, True, False),
                                                                    (6, False, True)]
    assert "MD5" in results[1].error
    with engine.connect() as conn:
        rows = {r.run: r for r in conn.execute(sa.select(schema.runs))}
    assert rows[5].storage_cloud_status == 1 and rows[5].file_size == 2000
    assert rows[6].storage_cloud_status is None
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket="cygno-chunks")["Contents"]]
    assert keys == ["lime/run00005/run00005.mid.lz4"]
    # restarted: nothing is sent again (run 5 done in SQL, run 6 refused, run 7 still open)
    again = RunFileShipper(store, engine, data, min_age_s=0.0)
    assert [r.uploaded for r in again.ship(open_run=7, limit=10)] == [False, False]
    assert again.ship(open_run=None, limit=10)[0].run == 7
