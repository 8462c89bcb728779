"""A seeded corpus of damaged simulated run files: nothing lost, nothing misleading.

Mutants of a small simulated run (truncations; bit flips in event headers, bank headers and
data; size fields set to 0, huge or negative; garbage inserted or appended; damaged
compressed streams) go through `cygno-mw dump`, and a few through `cygno-mw replay`.  For
every mutant: the exit status is one the README documents, no traceback, memory stays under
a bound, and every event that lies wholly before the first damaged byte is processed.
Where one event's sizes are damaged or garbage lies between events, every other event is
processed too: the reader resynchronises.
"""

from __future__ import annotations

import json
import random
import struct
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import lz4.frame
import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.midasfile import open_midas
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

SEED = 12
MUTANTS = 160  # of the uncompressed stream (each also recompressed, every fourth)
STREAM_MUTANTS = 24  # of the compressed bytes themselves
DUMP_STATUSES = {0, 1, 3}  # ok; file unusable or ending inside an event; corrupt data skipped
REPLAY_STATUSES = {0, 1, 3}  # ok; file failed; run partial
MEMORY_BOUND = 96 << 20  # bytes traced at the peak while dumping one mutant
BOMB_ZEROS = 128 << 20  # a header claiming 2 GiB, then this much of nothing (~0.5 MB as LZ4)
HUGE = (0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1 << 31 | 12345, 0)


@dataclass
class Original:
    plain: bytes
    events: list[tuple[int, int, int, int]]  # (offset, end, event id, serial), BOR first


@dataclass
class Mutant:
    name: str
    data: bytes
    fault: int | None  # first damaged byte of the decompressed stream (None: unknown)
    compressed: bool = False
    spared: list[tuple[int, int]] | None = None  # (id, serial) that must all be shown


def load(path: Path) -> Original:
    with open_midas(path) as midas:
        events = [(e.offset, e.offset + 16 + e.header.data_size, e.event_id, e.serial_number)
                  for e in midas.events(include_internal=True)]
    raw = path.read_bytes()
    plain = lz4.frame.decompress(raw) if path.suffix == ".lz4" else raw
    return Original(plain, events)


def mutants(original: Original, rng: random.Random) -> list[Mutant]:
    """The seeded corpus: each a description, the bytes, and where the damage starts."""
    plain, events = original.plain, original.events
    out: list[Mutant] = []
    for number in range(MUTANTS):
        kind = number % 8
        index = rng.randrange(1, len(events))  # the BOR is damaged below (kind 7)
        offset, end, event_id, _ = events[index]
        others = [(i, s) for n, (_, _, i, s) in enumerate(events) if n != index]
        everything = [(i, s) for _, _, i, s in events]
        spared = None
        data = bytearray(plain)
        if kind == 0:  # truncation anywhere
            cut = rng.randrange(len(plain))
            out.append(Mutant(f"truncated at {cut}", bytes(plain[:cut]), cut))
            continue
        if kind == 1:  # one bit of an event header
            at = offset + rng.randrange(16)
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 2:  # one bit of the bank header or of the first bank's header
            at = offset + 16 + rng.randrange(min(24, end - offset - 16))
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 3:  # data_size 0 / huge / negative
            at = offset + 12
            struct.pack_into("<I", data, at, rng.choice(HUGE))
            spared = others
        elif kind == 4:  # all_bank_size or a bank size 0 / huge / negative
            field = rng.choice((16, 16 + 8 + 8))
            at = offset + min(field, end - offset - 4)
            struct.pack_into("<I", data, at, rng.choice(HUGE))
            spared = others
        elif kind == 5:  # garbage inserted between events, or appended
            at = rng.choice([offset, len(plain)])
            garbage = rng.randbytes(rng.randrange(1, 5000))
            data[at:at] = garbage
            spared = everything
        elif kind == 6:  # a few bits anywhere after the BOR
            at = rng.randrange(events[1][0], len(plain))
            for spot in sorted(rng.sample(range(at, len(plain)), 3)):
                data[spot] ^= 1 << rng.randrange(8)
        else:  # the begin-of-run dump damaged
            at = rng.randrange(events[0][1])
            data[at] ^= 1 << rng.randrange(8)
        out.append(Mutant(f"kind {kind} at {at} (event id {event_id:#x})", bytes(data), at,
                          spared=spared))
    for mutant in out[::4]:
        out.append(Mutant(mutant.name + ", recompressed", lz4.frame.compress(mutant.data),
                          mutant.fault, compressed=True, spared=mutant.spared))
    for _ in range(2):  # decompression bombs: one event claims 2 GiB of zeros
        offset = rng.choice(events[1:])[0]
        bomb = struct.pack("<HHIII", 1, 0, 99, 0, 2 << 30) + bytes(BOMB_ZEROS)
        stream = plain[:offset] + bomb + plain[offset:]
        out.append(Mutant(f"bomb at {offset}", lz4.frame.compress(stream), offset, True,
                          [(i, s) for _, _, i, s in events]))
    packed = lz4.frame.compress(plain, block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                                content_checksum=True)
    for number in range(STREAM_MUTANTS):
        data = bytearray(packed)
        if number % 3 == 0:
            cut = rng.randrange(8, len(packed))
            out.append(Mutant(f"compressed stream cut at {cut}", bytes(data[:cut]), None, True))
            continue
        at = rng.randrange(8, len(packed))
        data[at] ^= 1 << rng.randrange(8)
        out.append(Mutant(f"compressed byte {at} flipped", bytes(data), None, True))
    return out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Original:
    folder = tmp_path_factory.mktemp("fuzz")
    run = simulate_run(folder / "run00090.mid", 90, 6, shape=(128, 128), with_pmt=False,
                       sc_period=6, mix=SignalMix(fe55=1, muon=0, nr=0, er=0))
    return load(run.path)


def dumped(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list, str, int]:
    """(status, [(id, serial)...], stderr, peak bytes) of `cygno-mw dump --json`."""
    tracemalloc.start()
    try:
        try:
            status = main(["dump", "--json", "--values", "2", str(path)])
        except SystemExit as exc:  # pragma: no cover - argparse; never expected here
            status = int(exc.code or 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    captured = capsys.readouterr()
    seen = [(r["event_id"], r["serial_number"])
            for r in map(json.loads, captured.out.splitlines())]
    return status, seen, captured.err, peak


def test_dump_survives_every_mutant(small_run: Original, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    corpus = mutants(small_run, random.Random(SEED))
    assert len(corpus) >= 200
    failures = []
    for number, mutant in enumerate(corpus):
        path = tmp_path / f"m{number}.mid{'.lz4' if mutant.compressed else ''}"
        path.write_bytes(mutant.data)
        try:
            status, seen, err, peak = dumped(path, capsys)
        except Exception as exc:  # a traceback the user would have seen
            failures.append(f"{mutant.name}: {type(exc).__name__}: {exc}")
            continue
        before = [(i, s) for _, end, i, s in small_run.events
                  if mutant.fault is not None and end <= mutant.fault]
        problems = []
        if status not in DUMP_STATUSES:
            problems.append(f"exit status {status}")
        if "Traceback" in err:
            problems.append("traceback")
        if peak > MEMORY_BOUND:
            problems.append(f"peak memory {peak >> 20} MiB")
        if seen[:len(before)] != before:
            problems.append(f"lost events before the fault: {len(seen)} shown, "
                            f"{len(before)} expected first")
        missing = [e for e in mutant.spared or () if e not in seen]
        if missing:
            problems.append(f"did not resynchronise: {missing} missing")
        if status == 3 and "corrupt data at byte offset" not in err:
            problems.append("exit 3 without saying what was skipped")
        if problems:
            failures.append(f"{mutant.name}: {', '.join(problems)}")
        path.unlink()
    assert not failures, "\n".join(failures[:20])


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fuzz-replay")
    pedestal = simulate_run(folder / "run00091.mid.lz4", 91, 2, pedestal=True, with_pmt=False)
    physics = simulate_run(folder / "run00092.mid", 92, 3, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0))
    return {"pedestal": pedestal.path, "physics": physics.path}


def test_replay_survives_damaged_files(full_runs: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Full-size images through the reconstruction: every image before the fault is
    reconstructed, and one after it too where the reader can resynchronise."""
    original = load(full_runs["physics"])
    cameras = [(offset, end, serial) for offset, end, i, serial in original.events if i == 1]
    rng = random.Random(SEED)
    out = tmp_path / "out"
    assert main(["replay", "-q", "-o", str(out), str(full_runs["pedestal"])]) == 0
    cases = []
    first = cameras[0][0]
    flipped = bytearray(original.plain)  # the case: bit 30 of the first image's size
    struct.pack_into("<I", flipped, first + 12,
                     struct.unpack_from("<I", flipped, first + 12)[0] ^ 1 << 30)
    cases.append(("bit 30 of data_size", lz4.frame.compress(bytes(flipped)), first, ".mid.lz4"))
    zero = bytearray(original.plain)
    struct.pack_into("<I", zero, cameras[1][0] + 16, 0)
    cases.append(("all_bank_size 0", bytes(zero), cameras[1][0], ".mid"))
    cut = rng.randrange(cameras[1][0], cameras[2][0])
    cases.append(("truncated", original.plain[:cut], cut, ".mid"))
    garbage = original.plain[:cameras[2][0]] + rng.randbytes(3000) + original.plain[
        cameras[2][0]:]
    cases.append(("garbage before the last image", garbage, cameras[2][0], ".mid"))
    failures = []
    for name, data, fault, suffix in cases:
        path = tmp_path / f"run00092{suffix}"
        path.write_bytes(data)
        status = main(["replay", "-q", "-o", str(out), str(path)])
        err = capsys.readouterr().err
        with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
            done = list(db.macro(92)["event"])
        before = [serial for _, end, serial in cameras if end <= fault]
        if status not in REPLAY_STATUSES or "Traceback" in err:
            failures.append(f"{name}: exit {status}: {err[-300:]}")
        if done[:len(before)] != before:
            failures.append(f"{name}: images {done} reconstructed, {before} expected first")
        if name != "truncated" and status == 3 and len(done) < len(cameras) - 1:
            failures.append(f"{name}: only {done} reconstructed after resynchronising")
        path.unlink()
    assert not failures, "\n".join(failures)


# -- files written by the real mlogger (live MIDAS experiment), one corrupt event each ------
MLOGGER_INDEX = 7  # equipment index of the frontends (other live tests use 9)
BANK32A_EVENT_ID = 40


def closed_run_file(experiment, run: int) -> Path:
    """mlogger's file of `run` once it is closed (it ends in the end-of-run dump)."""
    from live_midas import wait_for

    path = experiment.data_dir / f"run{run:05d}.mid.lz4"

    def closed() -> bool:
        try:
            with open_midas(path) as midas:
                ids = [e.event_id for e in midas.events(include_internal=True)]
        except Exception:  # not there yet, or mlogger still writing it
            return False
        return bool(ids) and ids[-1] == 0x8001

    wait_for(closed, 60, f"mlogger to close {path.name}")
    return path


@pytest.fixture(scope="module")
def mlogger_runs(midas_experiment) -> dict[str, Original]:
    """Two short runs written by the real mlogger: the frontends' own events (camera, PMT,
    slow control: BANK32, mostly 4 bytes off 64-bit alignment) and events that MIDAS's
    `midas.event.Event` packs as BANK32A."""
    from live_midas import idle_client, start_program, stop_program

    crew = idle_client(midas_experiment)
    crew.odb_set(f"/Equipment/Camera{MLOGGER_INDEX}/Settings",
                 {"Frame rate": 5.0, "Sim pool": 1, "ROI width": 64, "ROI height": 64},
                 remove_unspecified_keys=False)
    crew.odb_set(f"/Equipment/PMT{MLOGGER_INDEX}/Settings", {"Trigger rate": 5.0},
                 remove_unspecified_keys=False)
    programs = [start_program(midas_experiment, ["frontend", kind, "-i", str(MLOGGER_INDEX)],
                              f"{name} Frontend {MLOGGER_INDEX}")
                for kind, name in (("camera", "Camera"), ("pmt", "PMT"),
                                   ("slow-control", "Slow Control"))]
    try:
        crew.start_run()
        bank32 = int(crew.odb_get("/Runinfo/Run number"))
        crew.wait(3.0)
        crew.stop_run()
    finally:
        for process in programs:
            stop_program(process, timeout=20)
    bank32a = crew.send_banked_run("SYSTEM", BANK32A_EVENT_ID, 12, True)
    return {"BANK32": load(closed_run_file(midas_experiment, bank32)),
            "BANK32A": load(closed_run_file(midas_experiment, bank32a))}


def single_corrupt_events(original: Original) -> list[Mutant]:
    """Each event of the file (the begin- and end-of-run dumps too) damaged on its own: its
    data size's bit 30 flipped, and its bank-header flags (an ODB dump's size zeroed)."""
    out = []
    for number, (offset, _, event_id, serial) in enumerate(original.events):
        others = [(i, s) for n, (_, _, i, s) in enumerate(original.events) if n != number]
        size = struct.unpack_from("<I", original.plain, offset + 12)[0]
        flipped = bytearray(original.plain)
        struct.pack_into("<I", flipped, offset + 12, size ^ 1 << 30)
        other = bytearray(original.plain)
        if event_id & 0x8000:
            struct.pack_into("<I", other, offset + 12, 0)
        else:
            other[offset + 20] ^= 0x40
        what = f"event {number} (id {event_id:#x} serial {serial})"
        out.append(Mutant(f"{what}: data size bit 30", bytes(flipped), offset, spared=others))
        out.append(Mutant(f"{what}: data size bit 30, lz4", lz4.frame.compress(flipped),
                          offset, True, others))
        out.append(Mutant(f"{what}: bank flags / dump size 0", bytes(other), offset,
                          spared=others))
    return out


@pytest.mark.midas
@pytest.mark.parametrize("bank_format", ["BANK32", "BANK32A"])
def test_mlogger_files_with_one_corrupt_event(mlogger_runs: dict[str, Original],
                                              bank_format: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A corrupt event of a real mlogger file costs that event only (issue 27, item 2): the
    resynchronising reader took BANK32 events (4 bytes off 64-bit alignment) for corrupt,
    and a begin-of-run header with an impossible size made the whole file unreadable."""
    original = mlogger_runs[bank_format]
    sizes = {struct.unpack_from("<I", original.plain, offset + 12)[0] % 8
             for offset, _, event_id, _ in original.events if not event_id & 0x8000}
    assert len(original.events) > 5
    assert 4 in sizes if bank_format == "BANK32" else sizes == {0}  # mlogger's usual files
    corpus = single_corrupt_events(original)
    everything = [(i, s) for _, _, i, s in original.events]
    failures = []
    for number, mutant in enumerate(corpus):
        path = tmp_path / f"m{number}.mid{'.lz4' if mutant.compressed else ''}"
        path.write_bytes(mutant.data)
        status, seen, err, _ = dumped(path, capsys)
        if status not in DUMP_STATUSES or "Traceback" in err:
            failures.append(f"{mutant.name}: exit {status}: {err[-200:]}")
        if seen not in (mutant.spared, everything):  # an ODB dump of size 0 still shows
            lost = [e for e in mutant.spared or () if e not in seen]
            failures.append(f"{mutant.name}: {len(lost)} other events lost: {lost[:5]}")
        path.unlink()
    assert not failures, "\n".join(failures[:20])
