"""Telling a good event header from a corrupt one, and finding the next good one.

A MIDAS file is a chain of events, each found from the size field of the one before, so
one flipped bit in a size loses everything after it unless the reader can tell a corrupt
header and look for the next good one.  A header is *consistent* when its data size is
within the event-size bound and, for a banked event, equals the bank header's
all_bank_size + 8 with known bank flags.  While scanning after a fault a candidate must
also be *plausible* for this file: a data size its bank format can give (a multiple of 8,
of 4 for BANK32), an event id the ODB or the file has shown (or a young serial number), a
serial number above the last one of its id, a timestamp near the good events' (the
begin-of-run dump's included), and internal events with MIDAS's 'MI' trigger mask.

The event-size bound is the file's `/Experiment/MAX_EVENT_SIZE`, never below
`DEFAULT_MAX_EVENT_SIZE` (64 MiB: a fresh MIDAS says 4 MiB and our simulation copies that,
yet a camera image is 10.6 MB) and never above `MAX_EVENT_SIZE_CAP` (1 GiB).  No event is
ever buffered beyond it, so a corrupt or hostile size cannot exhaust memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cygno_mw.midasfile.event import (
    _KNOWN_FLAGS,
    BANK16,
    BANK32,
    BANK32A,
    BANK_FORMAT_VERSION,
    BANK_HEADER_SIZE,
    EVENT_HEADER_SIZE,
    MESSAGE_EVENT_ID,
    MIDAS_MAGIC,
    EventHeader,
    bank_layout,
)

DEFAULT_MAX_EVENT_SIZE = 64 << 20
MAX_EVENT_SIZE_CAP = 1 << 30
HEADERS = EVENT_HEADER_SIZE + BANK_HEADER_SIZE  # bytes needed to judge a banked candidate
SCAN_CHUNK = 4 << 20
_MAX_SERIAL_JUMP = 1_000_000  # serial numbers grow by one per event of an id
_YOUNG_SERIAL = 1000  # an unseen event id is believed only near the start of its count
_TIME_BEFORE = 86400  # seconds before the earliest good event (the BOR too) a header may be
_TIME_AFTER = 30 * 86400  # seconds after the latest good event
_BANK_HEADER = struct.Struct("<II")
_ODB_DUMP_STARTS = (ord("{"), ord("<"), ord("["))
# what a banked event's data size is a multiple of: every bank's data is padded to 8 bytes,
# so only BANK32's 12-byte bank headers leave an event 4 bytes off (mlogger's usual files)
_ALIGNMENT = {BANK16: 8, BANK32: 4, BANK32A: 8}


@dataclass(frozen=True)
class SkippedBytes:
    """A stretch of the (decompressed) stream that was not events: where, and why."""

    path: str
    start: int
    end: int | None  # None: to the end of the data
    reason: str
    compressed: bool = False

    def __str__(self) -> str:
        stream = " of the decompressed stream" if self.compressed else ""
        if self.end is None:
            after = "nothing readable follows it (the rest of the file was skipped)"
        else:
            after = (f"skipped {self.end - self.start} bytes to the next good event at "
                     f"byte offset {self.end}")
        return f"{self.path}: corrupt data at byte offset {self.start}{stream}: " \
               f"{self.reason}; {after}"


@dataclass
class PassState:
    """What one pass over a file has seen, to judge candidates after a fault."""

    bound: int
    known_ids: frozenset[int] = frozenset()
    last_serial: dict[int, int] = field(default_factory=dict)
    first_time: int | None = None
    last_time: int | None = None
    formats: set[int] = field(default_factory=set)
    skipped: list[SkippedBytes] = field(default_factory=list)

    def note(self, header: EventHeader, flags: int | None = None) -> None:
        """Remember a good event."""
        stamp = header.timestamp
        self.first_time = stamp if self.first_time is None else min(self.first_time, stamp)
        self.last_time = stamp if self.last_time is None else max(self.last_time, stamp)
        if not header.is_internal:
            self.last_serial[header.event_id] = header.serial_number
            if flags is not None:
                self.formats.add(flags)


def max_event_size(odb: Any) -> int:
    """The event-size bound for a file whose begin-of-run ODB is `odb` (see module doc)."""
    value = None
    if isinstance(odb, dict):
        experiment = next((v for k, v in odb.items() if k.lower() == "experiment"), None)
        if isinstance(experiment, dict):
            value = next((v for k, v in experiment.items() if k.lower() == "max_event_size"),
                         None)
    try:
        size = int(value) if value is not None else 0
    except (TypeError, ValueError, OverflowError):
        size = 0
    return min(max(size, DEFAULT_MAX_EVENT_SIZE), MAX_EVENT_SIZE_CAP)


def equipment_event_ids(odb: Any) -> frozenset[int]:
    """Event ids of `/Equipment/*/Common/Event ID` in an ODB dump (empty when absent)."""
    ids: set[int] = set()
    equipment = odb.get("Equipment") if isinstance(odb, dict) else None
    if isinstance(equipment, dict):
        for entry in equipment.values():
            common = entry.get("Common") if isinstance(entry, dict) else None
            value = common.get("Event ID") if isinstance(common, dict) else None
            if isinstance(value, int) and 0 <= value < 0x8000:
                ids.add(value)
    return frozenset(ids)


def header_problem(header: EventHeader, bound: int) -> str | None:
    """Why this event header cannot be right on its own, or None."""
    size = header.data_size
    what = f"event serial {header.serial_number} (id {header.event_id:#x})"
    if size > bound:
        return (f"{what} claims {size} data bytes, more than the largest possible event "
                f"({bound} bytes)")
    if not header.is_internal and size < BANK_HEADER_SIZE:
        return f"{what} claims {size} data bytes, too few for its bank header"
    return None


def bank_header_problem(header: EventHeader, bank_head: bytes | memoryview) -> str | None:
    """Why the bank header contradicts the event header, or None (needs 8 bytes)."""
    all_bank_size, flags = _BANK_HEADER.unpack_from(bank_head, 0)
    what = f"event serial {header.serial_number} (id {header.event_id:#x})"
    if not flags & BANK_FORMAT_VERSION or flags & ~_KNOWN_FLAGS:
        return f"{what}: bank header flags {flags:#x} are not a MIDAS bank format"
    if all_bank_size + BANK_HEADER_SIZE != header.data_size:
        return (f"{what}: its banks claim {all_bank_size} bytes but its header "
                f"{header.data_size} data bytes (banks + 8 expected)")
    return None


def find_header(buf: bytes | memoryview, state: PassState, final: bool = False) -> int | None:
    """The first position in `buf` where a plausible event header starts, or None.

    Positions in the last HEADERS - 1 bytes are judged only when `final` (no more data),
    since the caller keeps those bytes for the next chunk.  Candidates are found with a
    few vectorised byte comparisons (a bank-flags byte followed by three zeros; 0x80 'M'
    'I' of an internal event), so scanning costs about a millisecond per MiB.
    """
    raw = bytes(buf)
    size = len(raw)
    limit = size if final else size - HEADERS + 1
    if limit <= 0:
        return None
    data = np.frombuffer(raw, np.uint8)
    flags_byte = data[EVENT_HEADER_SIZE + 4:]
    hits = np.zeros(flags_byte.size, bool)
    for flags in state.formats or (BANK16, BANK32, BANK32A):
        hits |= flags_byte == flags
    banked = np.flatnonzero(hits[: max(0, size - HEADERS + 1)])
    tail = banked + EVENT_HEADER_SIZE + 4
    banked = banked[(data[tail + 1] == 0) & (data[tail + 2] == 0) & (data[tail + 3] == 0)]
    marks = np.flatnonzero(data[1:size - 2] == 0x80)  # event id 0x800n, then 'M' 'I'
    marks = marks[(data[marks + 2] == 0x4D) & (data[marks + 3] == 0x49) & (data[marks] <= 2)]
    candidates = np.union1d(banked, marks)
    for start in candidates[candidates < limit].tolist():
        if plausible(raw, start, state):
            return start
    return None


def plausible(raw: bytes, start: int, state: PassState) -> bool:
    """Whether an event header at `start` of `raw` fits this file (see module doc)."""
    if start + EVENT_HEADER_SIZE > len(raw):
        return False
    header = EventHeader.from_buffer(raw, start)
    if header_problem(header, state.bound) is not None:
        return False
    if not _time_fits(header.timestamp, state):
        return False
    if header.is_internal:
        if header.trigger_mask != MIDAS_MAGIC:
            return False
        body = start + EVENT_HEADER_SIZE
        return (header.event_id == MESSAGE_EVENT_ID or body >= len(raw)
                or raw[body] in _ODB_DUMP_STARTS)
    if start + HEADERS > len(raw):
        return False
    bank_head = raw[start + EVENT_HEADER_SIZE:start + HEADERS]
    if bank_header_problem(header, bank_head):
        return False
    if header.data_size % _ALIGNMENT[bank_layout(_BANK_HEADER.unpack_from(bank_head)[1])]:
        return False
    return _serial_fits(header, state)


def _time_fits(timestamp: int, state: PassState) -> bool:
    if state.first_time is None or state.last_time is None:
        return True
    return state.first_time - _TIME_BEFORE <= timestamp <= state.last_time + _TIME_AFTER


def _serial_fits(header: EventHeader, state: PassState) -> bool:
    last = state.last_serial.get(header.event_id)
    if last is not None:
        return last < header.serial_number <= last + _MAX_SERIAL_JUMP
    known = state.known_ids | set(state.last_serial)
    if header.event_id in known:
        return header.serial_number <= _MAX_SERIAL_JUMP
    return not known or header.serial_number < _YOUNG_SERIAL
