"""`cygno-mw dump`: mdump-like text, JSON lines, the ODB dump, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cygno_mw.cli import main
from cygno_mw.midasfile import MidasWriter, open_midas

ODB = {"Runinfo": {"Run number": 77}, "Configurations": {"Exposure": 0.3}}


@pytest.fixture()
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "run00077.mid.lz4"
    with MidasWriter(path, 77, ODB) as writer:
        for number in range(3):
            writer.write(
                1,
                {
                    "CAM0": np.full((16, 16), 100 + number, np.uint16),
                    "TEXT": b"cam",
                    "TEMP": np.array([20.5, np.nan]),
                },
                timestamp=1_700_000_000,
            )
        writer.write(2, {"PMT0": np.arange(4, dtype=np.int32)})
    return path


def test_text_output_like_mdump(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(run_file), "--max-events", "2"]) == 0
    out = capsys.readouterr().out
    assert "------------------------ Event# 0 ------------------------" in out
    assert "Evid:8000- Mask:494d- Serial:77-" in out
    assert "begin-of-run ODB dump" in out
    assert "Evid:0001- Mask:0000- Serial:0- Time:0x6553f100- Dsize:" in out
    assert "#banks:3 Bank list:-CAM0TEXTTEMP-" in out
    assert "Bank:CAM0 Length: 512(I*1)/128(I*4)/256(Type) Type:Unsigned Word" in out
    assert "   1-> 0x0064 0x0064" in out
    assert "Event# 2" not in out


def test_filters(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(run_file), "--event-id", "2", "--banks", "PMT0"]) == 0
    out = capsys.readouterr().out
    assert out.count("Event#") == 1
    assert "Bank:PMT0" in out and "Type:Signed Integer" in out


def test_json_lines(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(run_file), "--json", "-i", "1,0x8000", "--values", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event_id"] for r in records] == [0x8000, 1, 1, 1]
    assert records[0]["kind"] == "bor"
    camera = {bank["name"]: bank for bank in records[2]["banks"]}
    assert camera["CAM0"]["count"] == 256
    assert camera["CAM0"]["first"] == [101, 101, 101]
    assert camera["CAM0"]["mean"] == 101.0
    assert camera["TEXT"]["text"] == "cam"
    assert camera["TEMP"]["first"] == [20.5, "nan"]
    assert records[1]["bank_format"] == "BANK32A"


def test_odb(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(run_file), "--odb"]) == 0
    text = capsys.readouterr().out
    assert '"Run number/key" : { "type" : 7' in text
    assert main(["dump", str(run_file), "--odb", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ODB


def test_errors_have_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(tmp_path / "missing.mid")]) == 1
    assert "no such file" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not data at all, just some text\n")
    assert main(["dump", str(notes)]) == 1
    err = capsys.readouterr().err
    assert "is not a MIDAS file" in err and "Traceback" not in err
    assert main(["dump", str(notes), "--event-id", "one"]) == 2
    assert "--event-id" in capsys.readouterr().err


def test_truncated_file_prints_events_then_fails(
    run_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "run.mid"
    with open_midas(run_file) as midas, MidasWriter(plain, 77, ODB) as writer:
        for event in midas:
            writer.write(event.event_id, event.banks.values())
        offsets = midas.build_index().offsets
    cut = tmp_path / "cut.mid"
    cut.write_bytes(plain.read_bytes()[: int(offsets[2]) + 30])
    assert main(["dump", str(cut)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("Event#") == 3  # BOR + 2 complete events
    assert f"truncated at byte offset {offsets[2]}" in captured.err
    assert "Traceback" not in captured.err
