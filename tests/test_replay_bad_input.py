"""Bad input to `cygno-mw replay`: every case gives a clear message and no traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import lz4.frame
import numpy as np
import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.midasfile import MidasWriter, open_midas
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

EVENTS = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    pedestal = simulate_run(folder / "run00020.mid.lz4", 20, 3, pedestal=True)
    physics = simulate_run(folder / "run00021.mid.lz4", 21, EVENTS,
                           mix=SignalMix(fe55=3, muon=0, nr=0, er=1))
    return {"pedestal": pedestal.path, "physics": physics.path}


def replay(out: Path, *args: str) -> int:
    return main(["replay", "-q", "-o", str(out), *args])


def run_row(out: Path, run: int = 21) -> dict:
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        return db.runs(run).iloc[0].to_dict()


def macro_events(out: Path, run: int = 21) -> list[int]:
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        return list(db.macro(run)["event"])


def rewrite(source: Path, target: Path, change=None, close: bool = True) -> None:
    """Copy a run event by event (`change(event_banks) -> banks` may alter camera events)."""
    with open_midas(source) as midas:
        writer = MidasWriter(target, midas.run_number, midas.bor_odb)
        for event in midas:
            banks = {name: bank.data for name, bank in event.banks.items()}
            if change is not None and "CAM0" in banks:
                banks = change(event.serial_number, banks)
            writer.write(event.event_id, banks, serial_number=event.serial_number,
                         timestamp=event.timestamp)
        if close:
            writer.odb = midas.eor_odb or writer.odb
            writer.close()
        else:
            writer.abort()


def test_truncated_file_keeps_every_complete_event(runs: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = runs["physics"].read_bytes()
    cut = tmp_path / "run00021.mid.lz4"
    cut.write_bytes(data[: int(len(data) * 0.75)])
    with open_midas(cut) as midas:
        complete = [e.serial_number for e in _events_until_error(midas) if "CAM0" in e.banks]
    assert 0 < len(complete) < EVENTS

    assert replay(tmp_path / "out", "--pedestal", str(runs["pedestal"]), str(cut)) == 3
    err = capsys.readouterr().err
    assert "run 21 is partial" in err and str(cut) in err and "byte offset" in err
    assert "Traceback" not in err
    row = run_row(tmp_path / "out")
    assert row["partial"] and row["reco_status"] == "partial"
    assert row["number_of_events"] == len(complete)
    assert macro_events(tmp_path / "out") == complete


def _events_until_error(midas) -> list:
    events = []
    try:
        for event in midas:
            events.append(event)
    except Exception:
        pass
    return events


def test_corrupt_event_marks_the_run_partial(runs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plain = lz4.frame.decompress(runs["physics"].read_bytes())
    with open_midas(runs["physics"]) as midas:
        offsets = [e.offset for e in midas if "CAM0" in e.banks]
    broken = bytearray(plain)
    bank_flags = offsets[1] + 16 + 4  # the second camera event's bank-header flags
    broken[bank_flags:bank_flags + 4] = b"\xff\xff\xff\xff"
    path = tmp_path / "run00021.mid"
    path.write_bytes(bytes(broken))

    assert replay(tmp_path / "out", "--pedestal", str(runs["pedestal"]), str(path)) == 3
    err = capsys.readouterr().err
    assert f"corrupt data at byte offset {offsets[1]}" in err and "Traceback" not in err
    assert macro_events(tmp_path / "out") == [0, 2]  # the reader resynchronises after it
    assert run_row(tmp_path / "out")["partial"]


def test_file_without_end_of_run_is_partial(runs: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run00021.mid"
    rewrite(runs["physics"], path, close=False)
    assert replay(tmp_path / "out", "--pedestal", str(runs["pedestal"]), str(path)) == 3
    assert "no end-of-run dump" in capsys.readouterr().err
    assert macro_events(tmp_path / "out") == list(range(EVENTS))
    assert run_row(tmp_path / "out")["reco_status"] == "partial"


def test_image_of_wrong_size_is_skipped_and_counted(runs: dict[str, Path], tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def shrink_event_1(serial: int, banks: dict) -> dict:
        if serial == 1:
            banks = {**banks, "CAM0": np.full(1000 * 1000, 100, dtype=np.uint16)}
        return banks

    path = tmp_path / "run00021.mid"
    rewrite(runs["physics"], path, shrink_event_1)
    with caplog.at_level(logging.WARNING):
        status = main(["replay", "-o", str(tmp_path / "out"), "--pedestal",
                       str(runs["pedestal"]), str(path)])
    assert status == 0
    assert "1 images skipped (size does not match the pedestal map)" in capsys.readouterr().out
    assert "event 1 camera 0: image of 1000000 pixels does not match the pedestal map" \
        in caplog.text
    assert macro_events(tmp_path / "out") == [0, 2]
    assert run_row(tmp_path / "out")["reco_status"] == "done"


@pytest.mark.parametrize("tid", [3, 9, 12])  # CHAR, FLOAT, STRING where DWORD belongs
def test_pmt_bank_of_a_wrong_type_is_skipped_and_counted(runs: dict[str, Path], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture,
                                                        capsys: pytest.CaptureFixture[str],
                                                        tid: int) -> None:
    """Issue 27, item 6: one DGH0 bank of the wrong type failed the run with a traceback;
    the PMT part of that event is skipped and counted, its camera image is reconstructed."""
    with open_midas(runs["physics"]) as midas:
        offsets = [e.offset for e in midas if e.serial_number == 1]
    plain = bytearray(lz4.frame.decompress(runs["physics"].read_bytes()))
    bank = plain.index(b"DGH0", offsets[0])
    plain[bank + 4:bank + 8] = tid.to_bytes(4, "little")  # BANK32A: name, type, size, 0
    path = tmp_path / "run00021.mid"
    path.write_bytes(bytes(plain))
    with caplog.at_level(logging.WARNING):
        status = main(["replay", "-o", str(tmp_path / "out"), "--pedestal",
                       str(runs["pedestal"]), str(path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Traceback" not in err
    assert "1 events' PMT banks skipped (malformed)" in out
    assert "event 1: PMT banks not analysed: DGH0 holds" in caplog.text
    assert macro_events(tmp_path / "out") == [0, 1, 2]
    with Database(f"sqlite:///{tmp_path / 'out' / 'cygno.sqlite'}") as db:
        assert sorted(set(db.pmt(21, peaks=False)["event"])) == [0, 2]
    assert run_row(tmp_path / "out")["reco_status"] == "done"


def test_missing_pedestal_says_how_to_provide_one(runs: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(tmp_path / "out", str(runs["physics"])) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "no pedestal map" in err and "--pedestal" in err and "Traceback" not in err
    assert run_row(tmp_path / "out")["reco_status"] == "failed"


@pytest.mark.parametrize(("content", "message"), [
    (b"hello world" * 10, "is not a MIDAS file"),
    (b"", "the file is empty"),
])
def test_not_a_run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes,
                        message: str) -> None:
    path = tmp_path / "run00099.mid"
    path.write_bytes(content)
    assert replay(tmp_path / "out", str(path)) != 0
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err


def test_missing_file_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(tmp_path / "out", str(tmp_path / "nope.mid"), str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "nope.mid: no such file" in err and "is a folder" in err


def test_bad_parameters_stop_before_reading(runs: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(tmp_path / "out", "--set", "reco.eps=0", str(runs["physics"])) == 2
    assert "--set reco.eps=0: reco parameter 'eps'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "cygno.sqlite").exists()
    assert main(["replay", "-j", "0", str(runs["physics"])]) == 2
    assert "-j must be 1 to" in capsys.readouterr().err
