"""Writing and reading MIDAS files: compressions, ODB dumps, filters, index, bad files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import lz4.frame
import numpy as np
import pytest

from cygno_mw.midasfile import (
    BANK16,
    BANK32,
    BANK32A,
    MidasCorruptError,
    MidasFileNotFoundError,
    MidasTruncatedError,
    MidasWriter,
    NotMidasError,
    encode_event,
    open_midas,
)
from cygno_mw.midasfile.errors import MidasEncodeError
from cygno_mw.midasfile.event import BOR_EVENT_ID, EOR_EVENT_ID, encode_internal_event

ODB = {"Runinfo": {"Run number": 123}, "Configurations": {"Exposure": 0.3, "Cameras": 1}}
SUFFIXES = [".mid", ".mid.lz4", ".mid.gz", ".mid.bz2"]


def write_run(path: Path, events: int = 6, bank_format: int = BANK32A, size: int = 50) -> None:
    """Camera events (id 1) alternating with PMT events (id 2)."""
    with MidasWriter(path, 123, ODB, bank_format=bank_format) as writer:
        for number in range(events):
            if number % 2 == 0:
                image = np.full((size, size), number, np.uint16)
                writer.write(1, {"CAM0": image, "INFO": np.array([number], np.int32)})
            else:
                writer.write(2, {"PMT0": np.arange(8, dtype=np.float32) + number})
        writer.odb["Runinfo"]["Stop time"] = "later"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_each_compression(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run00123{suffix}"
    write_run(path)
    with open_midas(path) as midas:
        assert midas.compression == {".mid": None}.get(suffix, midas.compression)
        assert midas.run_number == 123
        assert midas.bor_odb == ODB
        assert midas.eor_odb is None  # not reached yet
        events = list(midas)
        assert [e.event_id for e in events] == [1, 2, 1, 2, 1, 2]
        assert [e.serial_number for e in events] == [0, 0, 1, 1, 2, 2]  # per event id
        assert events[2].bank("CAM0").data.reshape(50, 50)[7, 7] == 2
        assert events[3].bank("PMT0").data.tolist() == list(np.arange(8.0) + 3)
        assert midas.complete is True
        assert midas.eor_odb is not None
        assert midas.eor_odb["Runinfo"]["Stop time"] == "later"


def test_compression_is_detected_by_content(tmp_path: Path) -> None:
    named_plain = tmp_path / "run.mid"
    with MidasWriter(named_plain, 5, ODB, compression="lz4") as writer:
        writer.write(1, {"DATA": np.arange(4)})
    with open_midas(named_plain) as midas:
        assert midas.compression == "lz4"
        assert [e.bank("DATA").data.tolist() for e in midas] == [[0, 1, 2, 3]]


def test_name_says_compressed_but_content_is_not(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.lz4"
    path.write_bytes(b"plain text, no frame at all")
    with pytest.raises(NotMidasError, match="not lz4-compressed"):
        open_midas(path)


@pytest.mark.parametrize("bank_format", [BANK16, BANK32, BANK32A])
def test_bank_formats_through_files(tmp_path: Path, bank_format: int) -> None:
    path = tmp_path / "run.mid"
    write_run(path, bank_format=bank_format, size=20)
    with open_midas(path) as midas:
        events = list(midas)
        assert {e.bank_format for e in events} == {bank_format}
        assert events[4].bank("INFO").data.tolist() == [4]


def test_bor_and_eor_events_are_internal(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.lz4"
    write_run(path)
    with open_midas(path) as midas:
        everything = list(midas.events(include_internal=True))
        assert everything[0].is_bor and everything[-1].is_eor
        assert everything[0].trigger_mask == 0x494D
        assert everything[0].serial_number == everything[-1].serial_number == 123
        assert everything[0].text.startswith('{\n  "Runinfo" : {')
        assert midas.bor_odb_dump is not None
        assert midas.bor_odb_dump.metadata["/Runinfo/Run number"]["type"] == 7


def test_filters_by_event_id_and_bank(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.lz4"
    write_run(path)
    with open_midas(path) as midas:
        pmt = list(midas.events(event_ids=2))
        assert [e.serial_number for e in pmt] == [0, 1, 2]
        cams = list(midas.events(event_ids=[1], banks=["INFO"]))
        assert [list(e.banks) for e in cams] == [["INFO"]] * 3
        assert [e.bank("INFO").data[0] for e in cams] == [0, 2, 4]
        eor = next(iter(midas.events(event_ids=[0x8001], include_internal=True)))
        assert eor.is_eor


def test_index_and_random_access(tmp_path: Path) -> None:
    for suffix in (".mid", ".mid.lz4"):
        path = tmp_path / f"run{suffix}"
        write_run(path, events=8)
        with open_midas(path) as midas:
            with pytest.raises(TypeError):
                len(midas)
            index = midas.build_index()
            assert len(midas) == 8
            assert index.event_ids.tolist() == [1, 2] * 4
            assert midas.eor_odb is not None  # the scan reached the end
            for number in (5, 1, 6, 0, -1):
                event = midas.event_at(number)
                expected = number % 8
                assert event.offset == index.offsets[number]
                if expected % 2 == 0:
                    assert event.bank("INFO").data[0] == expected
                else:
                    assert event.bank("PMT0").data[0] == expected
            assert midas[3].serial_number == 1
            with pytest.raises(IndexError):
                midas.event_at(8)


def test_random_access_does_not_disturb_iteration(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.gz"
    write_run(path)
    with open_midas(path) as midas:
        seen = []
        for event in midas:
            seen.append(event.event_id)
            midas.event_at(0)
        assert seen == [1, 2] * 3


def test_read_eor_without_iterating(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.lz4"
    write_run(path)
    with open_midas(path) as midas:
        assert midas.read_eor()["Runinfo"]["Stop time"] == "later"
        assert midas.complete is True


def test_writer_aborted_leaves_an_incomplete_file(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    with pytest.raises(RuntimeError), MidasWriter(path, 9, ODB) as writer:
        writer.write(1, {"DATA": np.arange(3)})
        raise RuntimeError("DAQ crashed")
    with open_midas(path) as midas:
        assert len(list(midas)) == 1
        assert midas.complete is False
        assert midas.read_eor() is None


def test_writer_raw_events_messages_and_serials(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    with MidasWriter(path, 9, ODB) as writer:
        assert writer.write(1, {"A": np.zeros(1)}, serial_number=10) == 10
        assert writer.write(1, {"A": np.zeros(1)}) == 11
        writer.write_raw(encode_event(3, {"RAW": np.ones(2)}, serial_number=77))
        writer.write_message("hello shift crew")
        with pytest.raises(MidasEncodeError):
            writer.write_raw(b"\x01\x00" * 5)
    with open_midas(path) as midas:
        events = list(midas.events(include_internal=True))
        assert [e.serial_number for e in events[1:4]] == [10, 11, 77]
        assert events[4].is_message and events[4].text == "hello shift crew"
    with pytest.raises(MidasEncodeError):
        writer.write(1, {"A": np.zeros(1)})


# -- bad input ----------------------------------------------------------------------------


def _offsets(path: Path) -> list[int]:
    with open_midas(path) as midas:
        return midas.build_index().offsets.tolist()


def test_truncated_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    write_run(path)
    offsets = _offsets(path)
    cut = tmp_path / "cut.mid"
    cut.write_bytes(path.read_bytes()[: offsets[3] + 20])
    seen = []
    with pytest.raises(MidasTruncatedError) as info, open_midas(cut) as midas:
        for event in midas:
            seen.append(event.serial_number)
    assert seen == [0, 0, 1]
    error = info.value
    assert error.offset == offsets[3]
    assert error.serial_number == 1
    assert error.path == str(cut)
    assert f"cut.mid: truncated at byte offset {offsets[3]}:" in str(error)


def test_truncated_file_keeps_a_partial_index(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    write_run(path)
    offsets = _offsets(path)
    cut = tmp_path / "cut.mid"
    cut.write_bytes(path.read_bytes()[: offsets[4] + 20])
    with open_midas(cut) as midas:
        with pytest.raises(MidasTruncatedError):
            midas.build_index()
        assert len(midas) == 4
        assert midas.event_at(3).bank("PMT0").data[0] == 3


def _random_run(path: Path, events: int = 12) -> None:
    """1 MB of incompressible data per event: 12 MB, three 4 MB LZ4 blocks."""
    rng = np.random.default_rng(3)
    with MidasWriter(path, 1, ODB) as writer:
        for _ in range(events):
            writer.write(1, {"RAND": rng.integers(0, 2**32, size=1 << 18, dtype=np.uint32)})


@pytest.mark.parametrize("suffix", [".mid.lz4", ".mid.gz"])
def test_truncated_compressed_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    _random_run(path)
    offsets = _offsets(path)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.7)])
    seen = []
    with pytest.raises(MidasTruncatedError) as info, open_midas(cut) as midas:
        for event in midas:
            seen.append(event.serial_number)
    assert 2 <= len(seen) < 12
    assert seen == list(range(len(seen)))
    assert info.value.offset == offsets[len(seen)]
    assert "of the decompressed stream" in str(info.value)
    assert "cut short" in str(info.value)


def test_lz4_frame_without_end_mark_at_an_event_boundary(tmp_path: Path) -> None:
    path = tmp_path / "run.mid.lz4"
    events = encode_event(1, {"A": np.arange(3)}) + encode_event(1, {"A": np.arange(3)})
    compressor = lz4.frame.LZ4FrameCompressor()  # no content checksum: the end mark is last
    frame = compressor.begin() + compressor.compress(events) + compressor.flush()
    path.write_bytes(frame[:-4])  # every event complete, the frame's end mark missing
    seen = []
    with pytest.raises(MidasTruncatedError, match="cut short") as info, open_midas(path) as midas:
        for event in midas:
            seen.append(event)
    assert len(seen) == 2
    assert info.value.offset == len(events)


def test_corrupt_bank_size_names_serial_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    write_run(path)
    offsets = _offsets(path)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, offsets[2] + 24 + 8, 1_000_000)  # CAM0 size of serial 1
    bad = tmp_path / "bad.mid"
    bad.write_bytes(bytes(raw))
    with open_midas(bad) as midas:
        seen = [(e.event_id, e.serial_number) for e in midas]
        assert seen == [(1, 0), (2, 0), (2, 1), (1, 2), (2, 2)]
        assert midas.complete is True
        [skipped] = midas.skipped
    assert skipped.start == offsets[2] and skipped.end == offsets[3]
    assert f"bad.mid: corrupt data at byte offset {offsets[2]}: " in str(skipped)
    assert "event serial 1 (id 0x1): bank 'CAM0' claims 1000000 bytes" in str(skipped)
    with open_midas(bad) as midas, pytest.raises(MidasCorruptError) as info:
        midas.event_at(2)  # random access stays strict
    assert info.value.serial_number == 1 and info.value.offset == offsets[2]


def test_not_a_midas_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.mid"
    text.write_text("these are shift notes, not data\n" * 10)
    with pytest.raises(NotMidasError, match=r"notes\.mid is not a MIDAS file"):
        open_midas(text)
    zipped = tmp_path / "notes.mid.gz"
    zipped.write_bytes(gzip.compress(b"\x01\x02" * 100))
    with pytest.raises(NotMidasError):
        open_midas(zipped)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(MidasTruncatedError, match="empty"):
        open_midas(empty)
    with pytest.raises(MidasFileNotFoundError):
        open_midas(tmp_path / "missing.mid")


def test_file_without_odb_dumps(tmp_path: Path) -> None:
    path = tmp_path / "run.mid"
    path.write_bytes(
        encode_event(1, {"A": np.arange(3)}, serial_number=0)
        + encode_event(1, {"A": np.arange(3)}, serial_number=1, bank_format=BANK32)
    )
    with open_midas(path) as midas:
        assert midas.bor_odb is None and midas.run_number is None
        assert [e.serial_number for e in midas] == [0, 1]
        assert midas.complete is False


def test_xml_dumps_and_concatenated_lz4_frames(tmp_path: Path) -> None:
    """mlogger's XML dumps end in a NUL; `lz4 -c a b` style files hold several frames."""
    xml = b'<?xml version="1.0"?>\n<odb root="/"><dir name="Runinfo">'
    xml += b'<key name="Run number" type="INT">42</key></dir></odb>\n\0'
    parts = [
        encode_internal_event(BOR_EVENT_ID, xml, serial_number=42),
        encode_event(1, {"A": np.arange(2)}, serial_number=0),
        encode_event(1, {"A": np.arange(3)}, serial_number=1),
        encode_internal_event(EOR_EVENT_ID, xml, serial_number=42),
    ]
    path = tmp_path / "run00042.mid.lz4"
    path.write_bytes(b"".join(lz4.frame.compress(part) for part in parts))
    with open_midas(path) as midas:
        assert midas.bor_odb == {"Runinfo": {"Run number": 42}}
        assert midas.bor_event is not None and midas.bor_event.odb_text.startswith("<?xml")
        assert [e.bank("A").data.size for e in midas] == [2, 3]
        assert midas.complete is True and midas.eor_odb == midas.bor_odb
