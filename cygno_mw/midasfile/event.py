"""MIDAS events: the 16-byte event header, the bank header and the banks, both ways.

Layout (little-endian, as MIDAS writes on every platform we meet):

* event header: event_id u16, trigger_mask u16, serial_number u32, timestamp u32,
  data_size u32 (bytes after the header);
* bank header: all_bank_size u32 (bytes of banks after it), flags u32;
* each bank: a header (16-bit: name[4], type u16, size u16; BANK32: name[4], type u32,
  size u32; BANK32A: the same plus a reserved u32, so data start on 8 bytes), its data,
  then zeros up to the next multiple of 8 bytes.

MIDAS's C header calls event_id `short`; here it is read unsigned, as MIDAS's Python
package does, so the begin-of-run event is 0x8000.  Decoded bank data are NumPy views
of the event buffer: nothing is copied, so a 10.6 MB camera bank costs a few µs.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cygno_mw.midasfile import tid as _tid
from cygno_mw.midasfile.errors import BankNotFoundError, MidasCorruptError, MidasEncodeError

BOR_EVENT_ID = 0x8000
EOR_EVENT_ID = 0x8001
MESSAGE_EVENT_ID = 0x8002
INTERNAL_EVENT_IDS = frozenset((BOR_EVENT_ID, EOR_EVENT_ID, MESSAGE_EVENT_ID))
MIDAS_MAGIC = 0x494D  # 'MI': trigger mask of begin/end-of-run ODB dumps

BANK_FORMAT_VERSION = 1
BANK_FORMAT_32BIT = 1 << 4
BANK_FORMAT_64BIT_ALIGNED = 1 << 5
BANK16 = BANK_FORMAT_VERSION
BANK32 = BANK_FORMAT_VERSION | BANK_FORMAT_32BIT
BANK32A = BANK_FORMAT_VERSION | BANK_FORMAT_32BIT | BANK_FORMAT_64BIT_ALIGNED
_KNOWN_FLAGS = BANK32A

EVENT_HEADER_SIZE = 16
BANK_HEADER_SIZE = 8
_EVENT_HEADER = struct.Struct("<HHIII")
_BANK_HEADER = struct.Struct("<II")
_BANK_STRUCTS = {
    BANK16: struct.Struct("<4sHH"),
    BANK32: struct.Struct("<4sII"),
    BANK32A: struct.Struct("<4sIII"),
}
_RAW_TIDS = frozenset(
    (_tid.TID_CHAR, _tid.TID_STRING, _tid.TID_ARRAY, _tid.TID_STRUCT, _tid.TID_KEY, _tid.TID_LINK)
)
_SMALL_PART = 1 << 16  # bank data below this size are merged with the headers when encoding


def align8(size: int) -> int:
    """`size` rounded up to a multiple of 8, as MIDAS pads every bank."""
    return (size + 7) & ~7


def bank_layout(bank_format: int) -> int:
    """Which of BANK16, BANK32, BANK32A the bank-header flags select (as bk_is32a/bk_is32)."""
    if bank_format & BANK_FORMAT_64BIT_ALIGNED:
        return BANK32A
    if bank_format & BANK_FORMAT_32BIT:
        return BANK32
    return BANK16


@dataclass
class EventHeader:
    """The 16 bytes before every event."""

    event_id: int
    trigger_mask: int
    serial_number: int
    timestamp: int
    data_size: int

    SIZE: ClassVar[int] = EVENT_HEADER_SIZE

    @classmethod
    def from_buffer(cls, buffer: Any, offset: int = 0) -> EventHeader:
        return cls(*_EVENT_HEADER.unpack_from(buffer, offset))

    def pack(self) -> bytes:
        return _EVENT_HEADER.pack(
            self.event_id & 0xFFFF,
            self.trigger_mask & 0xFFFF,
            self.serial_number & 0xFFFFFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.data_size,
        )

    @property
    def is_internal(self) -> bool:
        """A begin/end-of-run ODB dump or a message: no banks inside."""
        return self.event_id in INTERNAL_EVENT_IDS


@dataclass
class Bank:
    """One bank: a name of up to 4 characters, its MIDAS type and its elements."""

    name: str
    tid: int
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def type_name(self) -> str:
        return _tid.tid_name(self.tid)

    def text(self) -> str:
        """The bank as text (for CHAR/STRING banks), up to the first NUL."""
        raw = self.data.tobytes()
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return (
            f"Bank(name={self.name!r}, tid={self.type_name}, "
            f"count={self.data.size}, dtype={self.data.dtype})"
        )


class Event:
    """A decoded event: its header, its banks by name and, for internal events, the payload."""

    __slots__ = ("_odb", "bank_format", "banks", "header", "offset", "payload")

    def __init__(
        self,
        header: EventHeader,
        banks: dict[str, Bank] | None = None,
        bank_format: int | None = None,
        payload: memoryview | bytes | None = None,
        offset: int | None = None,
    ) -> None:
        self.header = header
        self.banks: dict[str, Bank] = {} if banks is None else banks
        self.bank_format = bank_format
        self.payload = payload
        self.offset = offset
        self._odb: dict[str, Any] | None = None

    @property
    def event_id(self) -> int:
        return self.header.event_id

    @property
    def serial_number(self) -> int:
        return self.header.serial_number

    @property
    def timestamp(self) -> int:
        return self.header.timestamp

    @property
    def trigger_mask(self) -> int:
        return self.header.trigger_mask

    @property
    def is_bor(self) -> bool:
        return self.header.event_id == BOR_EVENT_ID

    @property
    def is_eor(self) -> bool:
        return self.header.event_id == EOR_EVENT_ID

    @property
    def is_message(self) -> bool:
        return self.header.event_id == MESSAGE_EVENT_ID

    @property
    def is_internal(self) -> bool:
        return self.header.is_internal

    def bank(self, name: str) -> Bank:
        """The bank called `name`; BankNotFoundError (a KeyError) names what there is."""
        try:
            return self.banks[name]
        except KeyError:
            have = ", ".join(self.banks) or "none"
            raise BankNotFoundError(
                f"event serial {self.serial_number} (id {self.event_id:#x}) has no bank "
                f"{name!r} (banks: {have})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.banks

    @property
    def text(self) -> str:
        """The payload of an internal event as text (ODB dump or message)."""
        raw = b"" if self.payload is None else bytes(self.payload)
        return raw.rstrip(b"\0").decode("utf-8", "replace")

    @property
    def odb_text(self) -> str:
        """The ODB dump of a begin/end-of-run event as MIDAS stored it (JSON, XML or ASCII)."""
        return self.text

    @property
    def odb(self) -> dict[str, Any]:
        """The ODB dump of a begin/end-of-run event as a nested dict (parsed once)."""
        if self._odb is None:
            if not (self.is_bor or self.is_eor):
                raise MidasCorruptError(
                    f"event id {self.event_id:#x} is not a begin/end-of-run ODB dump",
                    serial_number=self.serial_number,
                    offset=self.offset,
                )
            from cygno_mw.midasfile.odbdump import parse_odb_dump

            self._odb = parse_odb_dump(b"" if self.payload is None else bytes(self.payload))
        return self._odb

    def __repr__(self) -> str:
        what = list(self.banks) if not self.is_internal else f"{len(self.payload or b'')} bytes"
        return f"Event(id={self.event_id:#x}, serial={self.serial_number}, banks={what})"


def decode_event(
    buffer: bytes | bytearray | memoryview,
    *,
    banks: Iterable[str] | None = None,
    path: str | None = None,
    offset: int | None = None,
) -> Event:
    """Decode one whole event (header + data) from `buffer`; banks are views into it.

    `banks` restricts which banks get arrays (the others are skipped, not decoded);
    `path` and `offset` only serve the error messages.
    """
    view = memoryview(buffer)
    if view.nbytes < EVENT_HEADER_SIZE:
        raise MidasCorruptError(
            f"{_where(path, offset)}{view.nbytes} bytes are too few for an event header",
            path=path,
            offset=offset,
        )
    header = EventHeader.from_buffer(view)
    end = EVENT_HEADER_SIZE + header.data_size
    if end > view.nbytes:
        raise MidasCorruptError(
            f"{_where(path, offset)}event serial {header.serial_number} claims "
            f"{header.data_size} data bytes but the buffer holds {view.nbytes - 16}",
            path=path,
            offset=offset,
            serial_number=header.serial_number,
            event_id=header.event_id,
        )
    return decode_body(header, view[EVENT_HEADER_SIZE:end], banks=banks, path=path, offset=offset)


def decode_body(
    header: EventHeader,
    body: bytes | bytearray | memoryview,
    *,
    banks: Iterable[str] | None = None,
    path: str | None = None,
    offset: int | None = None,
) -> Event:
    """Decode the `header.data_size` bytes that follow an event header."""
    if header.is_internal:
        return Event(header, payload=body, offset=offset)
    wanted = None if banks is None else frozenset(banks)

    def corrupt(what: str) -> MidasCorruptError:
        return MidasCorruptError(
            f"{_where(path, offset)}event serial {header.serial_number} "
            f"(id {header.event_id:#x}): {what}",
            path=path,
            offset=offset,
            serial_number=header.serial_number,
            event_id=header.event_id,
        )

    size = len(body) if not isinstance(body, memoryview) else body.nbytes
    if size < BANK_HEADER_SIZE:
        raise corrupt(f"{size} data bytes are too few for the bank header")
    all_bank_size, flags = _BANK_HEADER.unpack_from(body, 0)
    if not flags & BANK_FORMAT_VERSION or flags & ~_KNOWN_FLAGS:
        raise corrupt(f"bank header flags {flags:#x} are not a MIDAS bank format")
    end = BANK_HEADER_SIZE + all_bank_size
    if end > size:
        raise corrupt(f"the banks claim {all_bank_size} bytes but the event holds {size - 8}")
    layout = bank_layout(flags)
    bank_struct = _BANK_STRUCTS[layout]
    head_size = bank_struct.size
    found: dict[str, Bank] = {}
    pos = BANK_HEADER_SIZE
    while pos < end:
        if pos + head_size > end:
            raise corrupt(f"a bank header at byte {pos} runs past the end of the banks")
        raw_name, tid, nbytes = bank_struct.unpack_from(body, pos)[:3]
        name = raw_name.split(b"\0", 1)[0].decode("latin-1")
        start = pos + head_size
        if start + nbytes > end:
            raise corrupt(
                f"bank {name!r} claims {nbytes} bytes but only {end - start} remain in the event"
            )
        if not _tid.is_known_tid(tid):
            raise corrupt(f"bank {name!r} has unknown type id {tid}")
        if (wanted is None or name in wanted) and name not in found:
            dtype = _tid.dtype_for_tid(tid)
            if nbytes % dtype.itemsize:
                raise corrupt(
                    f"bank {name!r} of {nbytes} bytes is not a whole number of "
                    f"{_tid.tid_name(tid)} elements"
                )
            data = np.frombuffer(body, dtype=dtype, count=nbytes // dtype.itemsize, offset=start)
            found[name] = Bank(name, tid, data)
        pos = start + align8(nbytes)
    return Event(header, found, bank_format=flags, payload=body, offset=offset)


def _where(path: str | None, offset: int | None) -> str:
    if path is None and offset is None:
        return ""
    place = f"byte offset {offset}" if offset is not None else ""
    return f"{path or ''}{': ' if path else ''}{place}: " if place else f"{path}: "


# -- encoding -----------------------------------------------------------------------------


def _bank_name_bytes(name: str | bytes) -> bytes:
    raw = name.encode("ascii", "strict") if isinstance(name, str) else bytes(name)
    if not 1 <= len(raw) <= 4 or b"\0" in raw:
        raise MidasEncodeError(f"bank name {name!r} must have 1 to 4 characters")
    return raw.ljust(4, b"\0")


def _as_bytes_array(data: Any) -> np.ndarray:
    """The raw bytes of `data` (text, bytes or any array) as a flat uint8 array."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    arr = np.ascontiguousarray(data)
    return arr.reshape(-1).view(np.uint8) if arr.size else np.empty(0, np.uint8)


def _bank_array(name: str, tid: int | None, data: Any) -> tuple[int, np.ndarray]:
    """(TID, flat little-endian contiguous array) for one bank; converts only if it must."""
    if tid is None:
        if isinstance(data, (bytes, bytearray, memoryview, str)):
            return _tid.TID_CHAR, _as_bytes_array(data)
        arr = np.asarray(data)
        tid = _tid.tid_for_dtype(arr.dtype)
        if tid in _RAW_TIDS:
            return tid, _as_bytes_array(arr)
    elif not _tid.is_known_tid(tid):
        raise MidasEncodeError(f"bank {name!r}: unknown MIDAS type id {tid}")
    elif tid in _RAW_TIDS:
        return tid, _as_bytes_array(data)
    else:
        arr = np.asarray(data)
    target = _tid.dtype_for_tid(tid)
    if arr.dtype != target:
        arr = _cast(name, arr, target, tid)
    return tid, np.ascontiguousarray(arr).reshape(-1)


def _cast(name: str, arr: np.ndarray, target: np.dtype, tid: int) -> np.ndarray:
    """`arr` as `target`: same-kind casts, or integers whose values fit."""
    if np.can_cast(arr.dtype, target, "same_kind"):
        return arr.astype(target)
    if arr.dtype.kind in "biu" and target.kind in "iu":
        info = np.iinfo(target)
        if arr.size == 0 or (int(arr.min()) >= info.min and int(arr.max()) <= info.max):
            return arr.astype(target)
        raise MidasEncodeError(f"bank {name!r}: values out of range for {_tid.tid_name(tid)}")
    raise MidasEncodeError(f"bank {name!r}: cannot store {arr.dtype} data as {_tid.tid_name(tid)}")


def _normalize_banks(
    banks: Mapping[str, Any] | Iterable[Bank],
) -> list[tuple[bytes, int, np.ndarray]]:
    items: Iterable[tuple[str, int | None, Any]]
    if isinstance(banks, Mapping):
        items = (
            (name, value.tid, value.data) if isinstance(value, Bank) else (name, None, value)
            for name, value in banks.items()
        )
    else:
        items = ((bank.name, bank.tid, bank.data) for bank in banks)
    out = []
    for name, tid, data in items:
        raw_name = _bank_name_bytes(name)
        out.append((raw_name, *_bank_array(name, tid, data)))
    return out


def encode_event_parts(
    event_id: int,
    banks: Mapping[str, Any] | Iterable[Bank],
    serial_number: int = 0,
    timestamp: int | None = None,
    trigger_mask: int = 0,
    bank_format: int = BANK32A,
) -> list[bytes | memoryview]:
    """The bytes of one banked event as a list of pieces, large bank data uncopied.

    Joining the pieces gives the event; writers pass them on one by one.
    """
    if bank_format & ~_KNOWN_FLAGS or not bank_format & BANK_FORMAT_VERSION:
        raise MidasEncodeError(f"bank format {bank_format:#x} is not a MIDAS bank format")
    if not -0x8000 <= event_id <= 0xFFFF:
        raise MidasEncodeError(f"event id {event_id} does not fit in 16 bits")
    layout = bank_layout(bank_format)
    bank_struct = _BANK_STRUCTS[layout]
    normalized = _normalize_banks(banks)
    all_bank_size = sum(bank_struct.size + align8(arr.nbytes) for _, _, arr in normalized)
    if layout == BANK16:
        too_big = [n.decode() for n, _, a in normalized if a.nbytes > 0xFFFF]
        if too_big or all_bank_size > 0xFFFF:
            raise MidasEncodeError(
                f"16-bit banks hold at most 65535 bytes (banks {too_big or 'together'} "
                "are larger): use BANK32 or BANK32A"
            )
    data_size = BANK_HEADER_SIZE + all_bank_size
    if data_size > 0xFFFFFFFF:
        raise MidasEncodeError(f"event of {data_size} bytes exceeds the 32-bit size field")
    header = EventHeader(
        event_id & 0xFFFF,
        trigger_mask,
        serial_number,
        int(time.time()) if timestamp is None else timestamp,
        data_size,
    )
    parts: list[bytes | memoryview] = []
    small = bytearray(header.pack())
    small += _BANK_HEADER.pack(all_bank_size, bank_format)
    for raw_name, tid, arr in normalized:
        nbytes = arr.nbytes
        fields = (raw_name, tid, nbytes, 0) if layout == BANK32A else (raw_name, tid, nbytes)
        small += bank_struct.pack(*fields)
        if nbytes >= _SMALL_PART:
            parts.append(bytes(small))
            parts.append(memoryview(arr.view(np.uint8)))
            small = bytearray()
        elif nbytes:
            small += memoryview(arr.view(np.uint8))
        small += bytes(align8(nbytes) - nbytes)
    if small:
        parts.append(bytes(small))
    return parts


def encode_event(
    event_id: int,
    banks: Mapping[str, Any] | Iterable[Bank],
    serial_number: int = 0,
    timestamp: int | None = None,
    trigger_mask: int = 0,
    bank_format: int = BANK32A,
) -> bytes:
    """One banked event as bytes; each bank's TID follows its dtype unless a Bank names it."""
    return b"".join(
        encode_event_parts(event_id, banks, serial_number, timestamp, trigger_mask, bank_format)
    )


def encode_internal_event(
    event_id: int,
    payload: bytes | str,
    serial_number: int = 0,
    timestamp: int | None = None,
    trigger_mask: int = MIDAS_MAGIC,
) -> bytes:
    """A bank-less event (ODB dump, message): the header then `payload` verbatim."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    header = EventHeader(
        event_id & 0xFFFF,
        trigger_mask,
        serial_number,
        int(time.time()) if timestamp is None else timestamp,
        len(raw),
    )
    return header.pack() + raw
