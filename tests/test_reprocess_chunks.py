"""`reprocess` of the uploader's chunks, in this process (no cluster): an unreadable chunk
makes the run partial and is named with its reason, never `done` (issue 27, item 7); a lost
begin-of-run dump fails the run instead of processing a pedestal run as physics; a chunk
number missing before a recorded last chunk is a gap the follower reports (item 3)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from cygno_mw.analyzers.outputs import migrate, schema
from cygno_mw.analyzers.outputs.database import create_db_engine
from cygno_mw.analyzers.reprocess.inputs import WorkItem, chunk_items
from cygno_mw.analyzers.reprocess.tasks import TaskOptions, close_sessions, process
from cygno_mw.analyzers.uploader.chunker import Chunker
from cygno_mw.analyzers.uploader.spool import ChunkSpool
from cygno_mw.midasfile import open_midas
from cygno_mw.midasfile.event import encode_event
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 512)
SMALL = ("reco.xmax=512", "reco.ymin=0", "reco.ymax=512", "reco.backend=numpy")


def chunked(run_file: Path, spool_dir: Path) -> list[Path]:
    """The uploader's chunks of a run file (two events each), in order."""
    spool = ChunkSpool(spool_dir)
    chunker = Chunker(spool, max_bytes=1)
    with open_midas(run_file) as midas:
        run = int(midas.bor_odb["Runinfo"]["Run number"])
        chunker.begin_run(run, midas.bor_odb)
        chunker.max_bytes = 2 * SHAPE[0] * SHAPE[1] * 2
        for event in midas.events():
            chunker.add(encode_event(event.event_id, list(event.banks.values()),
                                     event.serial_number, event.timestamp))
        chunker.end_run(midas.eor_odb)
    return [spool.path(m) for m in spool.pending()]


def item(paths: list[Path], run: int, **extra) -> WorkItem:
    return WorkItem(f"run {run}", tuple(str(p) for p in paths), run=run, chunks=True,
                    extra=extra)


@pytest.fixture()
def options(tmp_path):
    yield TaskOptions("chunks", str(tmp_path / "out"), SMALL)
    close_sessions()


def test_an_unreadable_chunk_makes_the_run_partial_and_named(tmp_path, options):
    pedestal = simulate_run(tmp_path / "run00030.mid.lz4", 30, 3, pedestal=True,
                            shape=SHAPE, with_pmt=False).path
    physics = simulate_run(tmp_path / "run00031.mid.lz4", 31, 6, shape=SHAPE, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0)).path
    assert process(item(chunked(pedestal, tmp_path / "s30"), 30), options)["status"] == "done"
    chunks = chunked(physics, tmp_path / "s31")
    chunks[1].write_bytes(os.urandom(3000))
    result = process(item(chunks, 31), options)
    assert result["status"] == "partial"
    assert chunks[1].name in result["problem"] and "unreadable" in result["problem"]
    assert result["images"] == 4


def test_a_lost_begin_of_run_dump_fails_the_run_never_physics(tmp_path, options):
    pedestal = simulate_run(tmp_path / "run00032.mid.lz4", 32, 4, pedestal=True,
                            shape=SHAPE, with_pmt=False).path
    chunks = chunked(pedestal, tmp_path / "s32")
    chunks[0].write_bytes(os.urandom(3000))  # the chunk with the begin-of-run ODB dump
    with pytest.raises(Exception, match=f"begin-of-run.*{chunks[0].name}") as caught:
        process(item(chunks, 32), options)
    assert "physics" not in str(caught.value)
    database = tmp_path / "out" / "cygno.sqlite"
    if not database.exists():
        return  # nothing written at all
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        if sa.inspect(conn).has_table("runs"):
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs WHERE run = 32")
                                ).scalar() == 0
    engine.dispose()


def test_missing_chunk_numbers_are_a_gap_reported_not_waited_for(tmp_path, options):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        for run, sequences, last in ((40, (0, 2, 3), 3), (41, (0, 1), None)):
            for sequence in sequences:
                conn.execute(schema.chunks.insert().values(
                    run=run, sequence=sequence, s3_key=f"s3://b/k/run{run}_{sequence}",
                    serials="{}", events=1, bytes=1, sha256="0", status="uploaded",
                    last_chunk=sequence == last, opened_at=now, closed_at=now,
                    uploaded_at=now))
    items = chunk_items(engine)  # run 41 has no last chunk yet: it waits
    assert [(i.run, i.extra.get("missing")) for i in items] == [(40, [1])]
    assert len(items[0].sources) == 3
    # processed: partial, the gap named
    physics = simulate_run(tmp_path / "run00040.mid.lz4", 40, 4, shape=SHAPE, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0)).path
    pedestal = simulate_run(tmp_path / "run00039.mid.lz4", 39, 3, pedestal=True,
                            shape=SHAPE, with_pmt=False).path
    process(item(chunked(pedestal, tmp_path / "s39"), 39), options)
    chunks = chunked(physics, tmp_path / "s40")
    result = process(item([chunks[0], *chunks[2:]], 40, missing=[1]), options)
    assert result["status"] == "partial" and "chunk 1 missing" in result["problem"]
