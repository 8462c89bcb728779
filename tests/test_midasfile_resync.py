"""A corrupt event costs that event only: the reader finds the next good header and goes on.

Each test here failed before the resynchronising reader (issue 12, defects 1 and 2).
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import lz4.frame
import numpy as np
import pytest

from cygno_mw.midasfile import MidasWriter, open_midas
from cygno_mw.midasfile.event import BANK16, BANK32, BANK32A
from cygno_mw.midasfile.resync import DEFAULT_MAX_EVENT_SIZE, max_event_size

ODB = {"Runinfo": {"Run number": 5},
       "Equipment": {"Camera": {"Common": {"Event ID": 1}},
                     "SC": {"Common": {"Event ID": 30}}}}
T0 = int(time.time())  # the writer stamps its ODB dumps with the present time


def write_run(path: Path, images: int = 8, side: int = 64) -> None:
    """Camera events (id 1) with a slow-control event (id 30) after every second one."""
    rng = np.random.default_rng(1)
    with MidasWriter(path, 5, ODB) as writer:
        for number in range(images):
            image = rng.normal(100, 3, (side, side)).astype(np.uint16)
            writer.write(1, {"CAM0": image}, serial_number=number, timestamp=T0 + number)
            if number % 2:
                writer.write(30, {"MSRD": np.arange(8, dtype=np.float32)},
                             serial_number=number // 2, timestamp=T0 + number)


def plain_events(path: Path) -> tuple[bytes, list[tuple[int, int, int]]]:
    """The decompressed stream and (offset, id, serial) of each data event."""
    with open_midas(path) as midas:
        index = midas.build_index()
        rows = list(zip(index.offsets.tolist(), index.event_ids.tolist(),
                        index.serial_numbers.tolist(), strict=True))
    raw = path.read_bytes()
    return (lz4.frame.decompress(raw) if path.suffix == ".lz4" else raw), rows


def read_all(path: Path) -> tuple[list[tuple[int, int]], list]:
    with open_midas(path) as midas:
        seen = [(e.event_id, e.serial_number) for e in midas]
        return seen, list(midas.skipped)


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "run00005.mid"
    write_run(path)
    return path


def test_bit_30_of_a_data_size_loses_one_event(run_file: Path, tmp_path: Path) -> None:
    raw, rows = plain_events(run_file)
    first = rows[0][0]
    broken = bytearray(raw)
    size = struct.unpack_from("<I", broken, first + 12)[0]
    struct.pack_into("<I", broken, first + 12, size ^ (1 << 30))
    bad = tmp_path / "run00005.mid.lz4"
    bad.write_bytes(lz4.frame.compress(bytes(broken)))
    seen, skipped = read_all(bad)
    assert seen == [(i, s) for _, i, s in rows[1:]]
    assert len(skipped) == 1
    assert (skipped[0].start, skipped[0].end) == (first, rows[1][0])
    assert "more than the largest possible event" in skipped[0].reason
    assert "of the decompressed stream" in str(skipped[0])


def test_a_size_that_disagrees_with_the_banks_is_corrupt(run_file: Path, tmp_path: Path) -> None:
    raw, rows = plain_events(run_file)
    sc = next(n for n, row in enumerate(rows) if row[1] == 30)
    broken = bytearray(raw)
    struct.pack_into("<I", broken, rows[sc][0] + 16, 0)  # all_bank_size = 0
    bad = tmp_path / "bad.mid"
    bad.write_bytes(bytes(broken))
    seen, skipped = read_all(bad)
    assert seen == [(i, s) for n, (_, i, s) in enumerate(rows) if n != sc]
    assert [(s.start, s.end) for s in skipped] == [(rows[sc][0], rows[sc + 1][0])]
    assert "banks claim 0 bytes" in skipped[0].reason


def test_garbage_between_events_is_skipped(run_file: Path, tmp_path: Path) -> None:
    raw, rows = plain_events(run_file)
    at = rows[3][0]
    garbage = np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mid"
    bad.write_bytes(raw[:at] + garbage + raw[at:])
    seen, skipped = read_all(bad)
    assert seen == [(i, s) for _, i, s in rows]
    assert [(s.start, s.end) for s in skipped] == [(at, at + len(garbage))]


def test_nothing_good_after_the_fault(run_file: Path, tmp_path: Path) -> None:
    raw, rows = plain_events(run_file)
    at = rows[2][0]
    bad = tmp_path / "bad.mid"
    bad.write_bytes(raw[:at] + b"\xff" * 3000)
    seen, skipped = read_all(bad)
    assert seen == [(i, s) for _, i, s in rows[:2]]
    assert skipped[0].start == at and skipped[0].end is None
    assert "nothing readable follows" in str(skipped[0])


def test_decompression_bomb_stays_within_the_bound(tmp_path: Path) -> None:
    """One event claims 2 GiB of an LZ4 stream of zeros: rejected without buffering it
    (the peak is the LZ4 reader's 32 MiB input chunk)."""
    good = tmp_path / "good.mid"
    write_run(good, images=2)
    raw, rows = plain_events(good)
    header = struct.pack("<HHIII", 1, 0, 9, T0, 2 << 30)
    stream = raw[:rows[0][0]] + header + bytes(48 << 20) + raw[rows[0][0]:]
    bomb = tmp_path / "bomb.mid.lz4"
    bomb.write_bytes(lz4.frame.compress(stream))
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        seen, skipped = read_all(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == [(i, s) for _, i, s in rows]
    assert len(skipped) == 1 and "2147483648 data bytes" in skipped[0].reason
    assert peak < 48 << 20, f"peak {peak / 2**20:.0f} MiB while reading the bomb"


def test_event_size_bound_comes_from_the_odb() -> None:
    assert max_event_size(None) == DEFAULT_MAX_EVENT_SIZE
    assert max_event_size({"Experiment": {"MAX_EVENT_SIZE": 4194304}}) == DEFAULT_MAX_EVENT_SIZE
    assert max_event_size({"experiment": {"max_event_size": 256 << 20}}) == 256 << 20
    assert max_event_size({"Experiment": {"MAX_EVENT_SIZE": 1e20}}) == 1 << 30
    assert max_event_size({"Experiment": {"MAX_EVENT_SIZE": "x"}}) == DEFAULT_MAX_EVENT_SIZE


def test_explicit_bound_rejects_larger_events(run_file: Path) -> None:
    with open_midas(run_file, max_event_size=1024) as midas:
        assert [e.event_id for e in midas] == [30] * 4  # the 8 kB images are too large
        assert len(midas.skipped) == 4  # two images before each slow-control event
        assert "more than the largest possible event" in midas.skipped[0].reason


@pytest.mark.parametrize("bank_format", [BANK16, BANK32, BANK32A], ids=["16", "32", "32A"])
def test_one_corrupt_event_in_each_position_costs_only_itself(bank_format: int,
                                                              tmp_path: Path) -> None:
    """Events of one BANK32 bank are 4 bytes short of 64-bit alignment (mlogger's files:
    issue 27, item 2); whichever event is corrupt, every other one is read."""
    path = tmp_path / "run00005.mid"
    rng = np.random.default_rng(3)
    with MidasWriter(path, 5, ODB, bank_format=bank_format) as writer:
        for number in range(6):
            writer.write(1, {"CAM0": rng.normal(100, 3, (16, 16)).astype(np.uint16)},
                         serial_number=number, timestamp=T0 + number)
            writer.write(30, {"MSRD": np.arange(5, dtype=np.float32)},
                         serial_number=number, timestamp=T0 + number)
    raw, rows = plain_events(path)
    sizes = {struct.unpack_from("<I", raw, offset + 12)[0] % 8 for offset, _, _ in rows}
    assert sizes == ({4} if bank_format == BANK32 else {0})
    for n, (offset, _, _) in enumerate(rows):
        broken = bytearray(raw)
        size = struct.unpack_from("<I", broken, offset + 12)[0]
        struct.pack_into("<I", broken, offset + 12, size ^ (1 << 30))
        bad = tmp_path / "bad.mid"
        bad.write_bytes(bytes(broken))
        seen, skipped = read_all(bad)
        assert seen == [(i, s) for m, (_, i, s) in enumerate(rows) if m != n], f"event {n}"
        assert len(skipped) == 1
