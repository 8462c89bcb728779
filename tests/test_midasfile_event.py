"""MIDAS events and banks: TIDs, the three bank formats, zero-copy decoding, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.midasfile import tid
from cygno_mw.midasfile.errors import (
    BankNotFoundError,
    MidasCorruptError,
    MidasEncodeError,
)
from cygno_mw.midasfile.event import (
    BANK16,
    BANK32,
    BANK32A,
    BOR_EVENT_ID,
    MIDAS_MAGIC,
    Bank,
    EventHeader,
    decode_event,
    encode_event,
    encode_internal_event,
)

FORMATS = [BANK16, BANK32, BANK32A]

# -- byte-level fixtures, written by hand from the format description -----------------------
# Event id 1, trigger mask 0, serial 5, time 0x12345678; bank "ADC0" UINT16 [1, 2, 3]
# (6 bytes, padded to 8) and bank "TDC1" INT32 [-1] (4 bytes, padded to 8).
_ADC0 = "0100 0200 0300 0000"  # three little-endian words + 2 padding bytes
_TDC1 = "ffffffff 00000000"  # -1 + 4 padding bytes
HAND_MADE = {
    # 16-bit banks: name[4], type u16, size u16; flags = 1
    BANK16: (
        "0100 0000 05000000 78563412 28000000"  # event header, data_size 40
        "20000000 01000000"  # all_bank_size 32, flags 1
        "41444330 0400 0600" + _ADC0 + "54444331 0700 0400" + _TDC1
    ),
    # 32-bit banks: name[4], type u32, size u32; flags = 0x11
    BANK32: (
        "0100 0000 05000000 78563412 30000000"  # data_size 48
        "28000000 11000000"  # all_bank_size 40, flags 0x11
        "41444330 04000000 06000000" + _ADC0 + "54444331 07000000 04000000" + _TDC1
    ),
    # 32-bit banks aligned to 64 bits: an extra reserved u32; flags = 0x31
    BANK32A: (
        "0100 0000 05000000 78563412 38000000"  # data_size 56
        "30000000 31000000"  # all_bank_size 48, flags 0x31
        "41444330 04000000 06000000 00000000"
        + _ADC0
        + "54444331 07000000 04000000 00000000"
        + _TDC1
    ),
}


@pytest.mark.parametrize("bank_format", FORMATS)
def test_encoding_matches_hand_made_bytes(bank_format: int) -> None:
    expected = bytes.fromhex(HAND_MADE[bank_format])
    banks = {"ADC0": np.array([1, 2, 3], np.uint16), "TDC1": np.array([-1], np.int32)}
    encoded = encode_event(1, banks, serial_number=5, timestamp=0x12345678, bank_format=bank_format)
    assert encoded == expected


@pytest.mark.parametrize("bank_format", FORMATS)
def test_decoding_hand_made_bytes(bank_format: int) -> None:
    event = decode_event(bytes.fromhex(HAND_MADE[bank_format]))
    data_size = {BANK16: 40, BANK32: 48, BANK32A: 56}[bank_format]
    assert event.header == EventHeader(1, 0, 5, 0x12345678, data_size)
    assert event.bank_format == bank_format
    assert list(event.banks) == ["ADC0", "TDC1"]
    assert event.bank("ADC0").tid == tid.TID_UINT16
    assert event.bank("ADC0").data.tolist() == [1, 2, 3]
    assert event.bank("TDC1").data.tolist() == [-1]


def test_hand_made_header_sizes() -> None:
    for bank_format, text in HAND_MADE.items():
        raw = bytes.fromhex(text)
        event = decode_event(raw)
        assert event.header.data_size == len(raw) - 16, bank_format


# -- every TID, every format ----------------------------------------------------------------

SAMPLES = {
    tid.TID_UINT8: np.array([0, 7, 255], np.uint8),
    tid.TID_INT8: np.array([-128, 0, 127], np.int8),
    tid.TID_CHAR: np.frombuffer(b"hello", "S1"),
    tid.TID_UINT16: np.array([0, 100, 65535], np.uint16),
    tid.TID_INT16: np.array([-32768, 3, 32767], np.int16),
    tid.TID_UINT32: np.array([0, 2**32 - 1], np.uint32),
    tid.TID_INT32: np.array([-(2**31), 5, 2**31 - 1], np.int32),
    tid.TID_BOOL: np.array([1, 0, 1], np.uint32),
    tid.TID_FLOAT: np.array([1.5, -2.25, np.inf], np.float32),
    tid.TID_DOUBLE: np.array([np.pi, -1e300], np.float64),
    tid.TID_BITFIELD: np.array([0xDEADBEEF], np.uint32),
    tid.TID_STRING: np.frombuffer(b"a string\0", "S1"),
    tid.TID_ARRAY: np.arange(5, dtype=np.uint8),
    tid.TID_STRUCT: np.arange(12, dtype=np.uint8),
    tid.TID_INT64: np.array([-(2**63), 2**62], np.int64),
    tid.TID_UINT64: np.array([2**64 - 1, 1], np.uint64),
}


def test_every_bank_tid_has_a_dtype() -> None:
    for number in range(1, tid.TID_LAST):
        assert tid.dtype_for_tid(number).itemsize in (1, 2, 4, 8)
    assert tid.dtype_for_tid(tid.TID_BOOL) == np.dtype("<u4")
    with pytest.raises(MidasEncodeError):
        tid.dtype_for_tid(0)


def test_tid_for_dtype() -> None:
    assert tid.tid_for_dtype(np.uint16) == tid.TID_UINT16
    assert tid.tid_for_dtype(">i4") == tid.TID_INT32
    assert tid.tid_for_dtype(np.bool_) == tid.TID_BOOL
    assert tid.tid_for_dtype("S1") == tid.TID_CHAR
    assert tid.tid_for_dtype(np.float32) == tid.TID_FLOAT
    assert tid.tid_for_dtype(np.uint64) == tid.TID_UINT64
    with pytest.raises(MidasEncodeError):
        tid.tid_for_dtype(np.complex64)
    assert tid.tid_from_name("WORD") == tid.tid_from_name("UINT16") == tid.TID_UINT16
    assert tid.tid_name(tid.TID_DOUBLE) == "DOUBLE"


@pytest.mark.parametrize("bank_format", FORMATS)
def test_round_trip_every_tid(bank_format: int) -> None:
    banks = [Bank(f"B{number:03d}"[:4], number, data) for number, data in SAMPLES.items()]
    encoded = encode_event(7, banks, serial_number=3, timestamp=99, bank_format=bank_format)
    assert len(encoded) % 8 == 0  # 24 bytes of headers + banks padded to 8
    event = decode_event(encoded)
    assert event.header.event_id == 7
    assert event.header.serial_number == 3
    assert event.header.data_size == len(encoded) - 16
    for bank in banks:
        got = event.bank(bank.name)
        assert got.tid == bank.tid
        assert got.data.dtype == tid.dtype_for_tid(bank.tid)
        assert got.data.tobytes() == bank.data.tobytes(), bank.tid


def test_dtype_decides_the_tid() -> None:
    event = decode_event(
        encode_event(
            1,
            {
                "F32": np.zeros(2, np.float32),
                "I64": np.zeros(2, np.int64),
                "BOOL": np.array([True, False]),
                "TEXT": b"abc",
                "BIGE": np.array([1, 2], ">u2"),
            },
        )
    )
    assert event.bank("F32").tid == tid.TID_FLOAT
    assert event.bank("I64").tid == tid.TID_INT64
    assert event.bank("BOOL").tid == tid.TID_BOOL
    assert event.bank("BOOL").data.tolist() == [1, 0]
    assert event.bank("TEXT").tid == tid.TID_CHAR
    assert event.bank("TEXT").text() == "abc"
    assert event.bank("BIGE").data.tolist() == [1, 2]


def test_explicit_tid_casts_python_lists() -> None:
    event = decode_event(encode_event(1, [Bank("ADC0", tid.TID_UINT16, [1, 2, 65535])]))
    assert event.bank("ADC0").data.dtype == np.dtype("<u2")
    with pytest.raises(MidasEncodeError, match="out of range"):
        encode_event(1, [Bank("ADC0", tid.TID_UINT16, [70000])])
    with pytest.raises(MidasEncodeError, match="cannot store"):
        encode_event(1, [Bank("ADC0", tid.TID_INT32, [1.5])])


def test_multi_dimensional_arrays_are_flattened() -> None:
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    event = decode_event(encode_event(1, {"CAM0": image}))
    assert np.array_equal(event.bank("CAM0").data.reshape(3, 4), image)


def test_decoded_banks_are_views_of_the_buffer() -> None:
    image = np.random.default_rng(0).integers(90, 110, size=(2304, 2304), dtype=np.uint16)
    buffer = encode_event(1, {"CAM0": image, "INFO": np.arange(3, dtype=np.int32)})
    event = decode_event(buffer)
    data = event.bank("CAM0").data
    assert np.shares_memory(data, np.frombuffer(buffer, np.uint8))
    assert not data.flags.owndata
    assert data.nbytes == 2304 * 2304 * 2
    assert np.array_equal(data.reshape(2304, 2304), image)


def test_bank_filter_skips_other_banks() -> None:
    buffer = encode_event(1, {"CAM0": np.zeros(4, np.uint16), "INFO": np.zeros(2, np.int32)})
    event = decode_event(buffer, banks=["INFO"])
    assert list(event.banks) == ["INFO"]


def test_missing_bank_names_the_event() -> None:
    event = decode_event(encode_event(1, {"INFO": np.zeros(1)}, serial_number=12))
    with pytest.raises(BankNotFoundError, match=r"serial 12 .* no bank 'CAM0' \(banks: INFO\)"):
        event.bank("CAM0")
    with pytest.raises(KeyError):
        event.bank("CAM0")
    assert "INFO" in event


def test_short_bank_names_and_bad_names() -> None:
    event = decode_event(encode_event(1, {"AB": np.zeros(1, np.uint8)}))
    assert list(event.banks) == ["AB"]
    for bad in ("", "TOOLONG"):
        with pytest.raises(MidasEncodeError):
            encode_event(1, {bad: np.zeros(1)})


def test_16_bit_banks_refuse_big_data() -> None:
    with pytest.raises(MidasEncodeError, match="BANK32"):
        encode_event(1, {"CAM0": np.zeros(40000, np.uint16)}, bank_format=BANK16)


def test_event_id_is_unsigned_and_bor_constants() -> None:
    raw = encode_internal_event(BOR_EVENT_ID, '{"a": 1}', serial_number=42, timestamp=1)
    assert raw[:4] == bytes.fromhex("0080 4d49")  # id 0x8000, mask 'MI'
    event = decode_event(raw)
    assert event.is_bor and event.is_internal and not event.is_eor
    assert event.trigger_mask == MIDAS_MAGIC
    assert event.serial_number == 42
    assert event.odb == {"a": 1}
    negative = decode_event(encode_event(-32767, {"X": np.zeros(1)}))
    assert negative.event_id == 0x8001  # C's short -32767 is 0x8001 read unsigned


def test_corrupt_bank_size_names_the_serial_number() -> None:
    raw = bytearray(bytes.fromhex(HAND_MADE[BANK32]))
    raw[24 + 8] = 0xFF  # size of bank ADC0: 255 bytes, more than the event holds
    with pytest.raises(MidasCorruptError, match=r"serial 5 .*'ADC0' claims 255 bytes") as info:
        decode_event(bytes(raw))
    assert info.value.serial_number == 5


def test_bad_flags_and_unknown_tid_are_corrupt() -> None:
    raw = bytearray(bytes.fromhex(HAND_MADE[BANK32]))
    raw[20] = 0x80  # flags without the format version bit
    with pytest.raises(MidasCorruptError, match="flags"):
        decode_event(bytes(raw))
    raw = bytearray(bytes.fromhex(HAND_MADE[BANK32]))
    raw[28] = 99  # type of bank ADC0
    with pytest.raises(MidasCorruptError, match="unknown type id 99"):
        decode_event(bytes(raw))
    with pytest.raises(MidasCorruptError):
        decode_event(bytes.fromhex(HAND_MADE[BANK32])[:30])
