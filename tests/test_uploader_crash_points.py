"""The uploader's chunker killed at every step that can block (each fsync): no event it took
from the buffer is lost, none is kept twice, and no chunk number is skipped (issue 27, item
3). The "kill" is an exception raised from `os.fsync`: what was written before it stays on
disk, as after SIGKILL; the process's memory (an event not yet written) is gone."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from cygno_mw.analyzers.uploader.chunker import Chunker
from cygno_mw.analyzers.uploader.spool import ChunkSpool
from cygno_mw.midasfile import open_midas
from cygno_mw.midasfile.event import encode_event

BOR_ODB = {"Runinfo": {"Run number": 7}, "Experiment": {"Name": "crash"}}


class Killed(BaseException):
    """The process dies here."""


def event(serial: int) -> bytes:
    data = np.full(200, serial, dtype=np.uint16)
    return encode_event(10, {"CAM0": data}, serial_number=serial, timestamp=1700000000)


class KillAtFsync:
    """Raises Killed at the n-th os.fsync (counting from 0); counts them otherwise."""

    def __init__(self, monkeypatch, at: int | None) -> None:
        self.at = at
        self.calls = 0
        self.real = os.fsync
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        if self.calls == self.at:
            self.calls += 1
            raise Killed
        self.calls += 1
        self.real(fd)


def session(chunker: Chunker, taken: list[int], serials: range) -> None:
    """What the uploader does: events, a chunk closed by size now and then, the run's end.
    `taken` lists the events handed to the chunker (received from the buffer). A restarted
    uploader begins the run again too (it joins the run in progress)."""
    chunker.begin_run(7, BOR_ODB)
    for serial in serials:
        taken.append(serial)
        chunker.add(event(serial), run=7)
    chunker.end_run({"Runinfo": {"Run number": 7, "Stop time binary": 1}})


def kept(spool: ChunkSpool) -> tuple[list[int], list[int]]:
    """(sequence numbers, event serials in chunk order) of the spooled chunks."""
    sequences, serials = [], []
    for manifest in spool.pending():
        sequences.append(manifest.sequence)
        with open_midas(spool.path(manifest)) as chunk:
            serials += [e.serial_number for e in chunk.events()]
    return sequences, serials


def fsyncs_of_a_clean_session(tmp_path, monkeypatch) -> int:
    counter = KillAtFsync(monkeypatch, None)
    chunker = Chunker(ChunkSpool(tmp_path / "clean"), max_bytes=900)
    session(chunker, [], range(6))
    monkeypatch.setattr(os, "fsync", counter.real)
    return counter.calls


def test_a_kill_at_any_fsync_loses_no_taken_event_and_skips_no_chunk_number(
        tmp_path, monkeypatch) -> None:
    total = fsyncs_of_a_clean_session(tmp_path, monkeypatch)
    assert total > 5
    for at in range(total):
        folder = tmp_path / f"kill{at}"
        chunker = Chunker(ChunkSpool(folder), max_bytes=900)
        taken: list[int] = []
        killer = KillAtFsync(monkeypatch, at)
        with pytest.raises(Killed):
            session(chunker, taken, range(6))
        monkeypatch.setattr(os, "fsync", killer.real)
        if chunker.current is not None:
            os.close(chunker.current.fd)  # the kill closes it
        # restarted: recover, then the run goes on and ends
        again = Chunker(ChunkSpool(folder), max_bytes=900)
        again.recover()
        session(again, taken, range(100, 103))
        sequences, serials = kept(again.spool)
        assert sequences == list(range(len(sequences))), f"kill at fsync {at}: a gap"
        assert sorted(serials) == sorted(set(taken)), f"kill at fsync {at}: events lost"
        assert len(serials) == len(set(serials)), f"kill at fsync {at}: an event twice"
        with open_midas(again.spool.path(again.spool.pending()[0])) as first:
            assert first.bor_odb.get("Experiment") == {"Name": "crash"}  # the run's dump


def test_a_journal_left_without_its_metadata_becomes_a_chunk(tmp_path) -> None:
    """Killed after the event's write, before the chunk's metadata: the journal's name says
    which run and chunk it is."""
    spool = ChunkSpool(tmp_path / "spool")
    chunker = Chunker(spool, max_bytes=1 << 30)
    chunker.begin_run(7, BOR_ODB)
    chunker.add(event(1))
    name = chunker.current.journal.name
    os.close(chunker.current.fd)
    (chunker.open_dir / name.replace(".journal", ".meta.json")).unlink()
    again = Chunker(ChunkSpool(tmp_path / "spool"))
    recovered = again.recover()
    assert [(m.run, m.sequence, m.events) for m in recovered] == [(7, 0, 1)]
    again.add(event(2), run=7)
    assert again.current.sequence == 1


class DiskFull:
    """os.fsync fails with ENOSPC while `on` (the write before it stays, as on a full disk
    the data may have fit but not the fsync's metadata)."""

    def __init__(self, monkeypatch, only: str) -> None:
        self.on = False
        self.only = only  # fail only for files whose name holds this
        self.real = os.fsync
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        if self.on and self.only in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd)


@pytest.mark.parametrize("only", ["", "state.json"])
def test_steps_failing_on_a_full_disk_leave_nothing_and_take_no_number(
        tmp_path, monkeypatch, only) -> None:
    """Each step meeting ENOSPC is undone and may be repeated: no chunk number is used up
    by the failures, no event kept twice."""
    disk = DiskFull(monkeypatch, only)
    chunker = Chunker(ChunkSpool(tmp_path / "spool"), max_bytes=1)  # a chunk per event
    chunker.begin_run(7, BOR_ODB)
    taken: list[int] = []
    for serial in range(8):
        disk.on = serial % 3 == 1
        for _ in range(3):  # tried again and again while the disk is full
            try:
                chunker.add(event(serial), run=7)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                continue
            taken.append(serial)
            break
        disk.on = False
        if serial not in taken:
            chunker.add(event(serial), run=7)  # room again
            taken.append(serial)
    if not only:
        disk.on = True
        with pytest.raises(OSError):
            chunker.end_run({"Runinfo": {"Run number": 7}})
        disk.on = False
    chunker.end_run({"Runinfo": {"Run number": 7}})
    sequences, serials = kept(chunker.spool)
    assert sequences == list(range(len(sequences)))
    assert serials == taken == list(range(8))
    assert not list(chunker.open_dir.iterdir())
