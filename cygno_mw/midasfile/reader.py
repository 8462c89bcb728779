"""Reading MIDAS files (`.mid`, `.mid.gz`, `.mid.lz4`, `.mid.bz2`) event by event.

`open_midas(path)` recognises the compression by its magic number, checks that the
file starts like a MIDAS file and reads the begin-of-run ODB dump.  Iterating decodes
each event into zero-copy NumPy views; a file that ends inside an event yields every
complete event and then raises MidasTruncatedError with the byte offset.

A corrupt event (sizes that contradict each other, a size beyond the event-size bound,
a bad bank) does not end the pass: it is recorded in `skipped` (and passed to
`on_corrupt`), and reading goes on at the next plausible event header (`resync`).
No event is buffered beyond the bound, so a hostile size cannot exhaust memory.

Random access (`build_index`, `event_at`) uses its own stream so it does not disturb
an iteration.  Plain files seek; compressed files cannot, so going backwards restarts
decompression from the beginning and going forwards decompresses and drops the bytes
in between: fine for forward jumps, slow for reverse order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.midasfile.errors import (
    MidasCorruptError,
    MidasFileNotFoundError,
    MidasFormatError,
    MidasTruncatedError,
    NotMidasError,
)
from cygno_mw.midasfile.event import (
    _KNOWN_FLAGS,
    BANK_FORMAT_VERSION,
    BANK_HEADER_SIZE,
    BOR_EVENT_ID,
    EOR_EVENT_ID,
    EVENT_HEADER_SIZE,
    MIDAS_MAGIC,
    Event,
    EventHeader,
    decode_body,
)
from cygno_mw.midasfile.odbdump import OdbDump, read_odb_dump
from cygno_mw.midasfile.resync import (
    DEFAULT_MAX_EVENT_SIZE,
    HEADERS,
    SCAN_CHUNK,
    PassState,
    SkippedBytes,
    bank_header_problem,
    equipment_event_ids,
    find_header,
    header_problem,
)
from cygno_mw.midasfile.resync import (
    max_event_size as event_size_bound,
)
from cygno_mw.midasfile.streams import (
    CompressedDataError,
    Source,
    compression_from_suffix,
    detect_compression,
    open_source,
)


@dataclass
class EventIndex:
    """Where each data event (not BOR/EOR/messages) starts, with its header fields."""

    offsets: np.ndarray
    event_ids: np.ndarray
    serial_numbers: np.ndarray
    timestamps: np.ndarray
    data_sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)


class _IndexBuilder:
    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, int]] = []

    def add(self, offset: int, header: EventHeader) -> None:
        self.rows.append(
            (offset, header.event_id, header.serial_number, header.timestamp, header.data_size)
        )

    def finish(self) -> EventIndex:
        table = np.array(self.rows, dtype=np.int64).reshape(-1, 5)
        return EventIndex(
            offsets=table[:, 0].copy(),
            event_ids=table[:, 1].astype(np.uint16),
            serial_numbers=table[:, 2].astype(np.uint32),
            timestamps=table[:, 3].astype(np.uint32),
            data_sizes=table[:, 4].astype(np.uint32),
        )


class MidasFile:
    """An open MIDAS file: iterate it for events; `bor_odb`, `run_number`, `event_at(n)`."""

    def __init__(
        self, path: str | os.PathLike[str], max_event_size: int | None = None
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise MidasFileNotFoundError(
                f"{self.path} is a folder: give a MIDAS file (run*.mid, .mid.gz, .mid.lz4)")
        self._max_event_size = max_event_size
        # the begin-of-run dump is read under the default bound, events under the file's
        self.max_event_size = max_event_size or DEFAULT_MAX_EVENT_SIZE
        self.skipped: list[SkippedBytes] = []  # corrupt stretches of the latest pass
        self.index_skipped: list[SkippedBytes] = []  # and of build_index's scan
        self.on_corrupt: Callable[[SkippedBytes], None] | None = None
        if not self.path.is_file():
            raise MidasFileNotFoundError(f"{self.path}: no such file")
        self.compression = detect_compression(self.path)
        named = compression_from_suffix(self.path)
        if named is not None and self.compression is None and self.path.stat().st_size:
            raise NotMidasError(
                f"{self.path}: the name says {named} but the content is not {named}-compressed",
                path=self.path,
                offset=0,
            )
        self._source = open_source(self.path, self.compression)
        self._random: Source | None = None
        self._pass = 0
        self._index: EventIndex | None = None
        self._data_start = 0
        self.bor_event: Event | None = None
        self.eor_event: Event | None = None
        self.complete: bool | None = None  # True once the end-of-run dump was read
        try:
            self._open_run()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _open_run(self) -> None:
        src = self._source
        head = self._guarded(0, src.read, EVENT_HEADER_SIZE + BANK_HEADER_SIZE)
        problem = src.end_problem
        src.rewind()
        self._check_start(head, problem)
        header = EventHeader.from_buffer(head)
        if header.event_id == BOR_EVENT_ID:
            if header_problem(header, self.max_event_size) is not None:
                return  # no dump to read; every pass skips this header from byte 0 on
            self.bor_event = self._next(src, lambda h: True)
            self._data_start = src.offset
            if self._max_event_size is None:
                self.max_event_size = event_size_bound(self._bor_odb_or_none())

    def _bor_odb_or_none(self) -> Any:
        try:
            return self.bor_odb
        except Exception:  # the replay reports an unreadable dump; here it only costs a bound
            return None

    def _pass_state(self) -> PassState:
        state = PassState(bound=self.max_event_size)
        if self.bor_event is not None:
            state.note(self.bor_event.header)
        return state

    def _check_start(self, head: bytes, problem: str | None) -> None:
        if len(head) < EVENT_HEADER_SIZE:
            if not head or head[:2] == b"\x00\x80":
                why = problem or (
                    "the file is empty" if not head else "it ends in the first header"
                )
                raise self._truncated(0, f"no complete event: {why}")
            raise self._not_midas(head)
        header = EventHeader.from_buffer(head)
        if header.event_id == BOR_EVENT_ID:
            if header.trigger_mask != MIDAS_MAGIC:
                raise self._not_midas(head)
            return
        if header.is_internal:
            return
        if len(head) < EVENT_HEADER_SIZE + BANK_HEADER_SIZE or header.data_size < 8:
            raise self._not_midas(head)
        all_bank_size = int.from_bytes(head[16:20], "little")
        flags = int.from_bytes(head[20:24], "little")
        if (
            not flags & BANK_FORMAT_VERSION
            or flags & ~_KNOWN_FLAGS
            or all_bank_size + BANK_HEADER_SIZE > header.data_size
        ):
            raise self._not_midas(head)

    def _not_midas(self, head: bytes) -> NotMidasError:
        start = head[:16].hex(" ")
        return NotMidasError(
            f"{self.path} is not a MIDAS file: its first event is neither a begin-of-run "
            f"dump (id 0x8000, mask 'MI') nor a valid banked event (first bytes {start})",
            path=self.path,
            offset=0,
        )

    # -- reading one event -----------------------------------------------------------------

    def _where(self, offset: int) -> str:
        stream = " of the decompressed stream" if self.compression else ""
        return f"{self.path}: byte offset {offset}{stream}"

    def _truncated(
        self, offset: int, why: str, header: EventHeader | None = None
    ) -> MidasTruncatedError:
        stream = " of the decompressed stream" if self.compression else ""
        return MidasTruncatedError(
            f"{self.path}: truncated at byte offset {offset}{stream}: {why}",
            path=self.path,
            offset=offset,
            serial_number=None if header is None else header.serial_number,
            event_id=None if header is None else header.event_id,
        )

    def _guarded(self, offset: int, call: Callable[..., Any], *args: Any) -> Any:
        """`call(*args)` with decompression errors turned into MidasCorruptError."""
        try:
            return call(*args)
        except CompressedDataError as exc:
            raise MidasCorruptError(
                f"{self._where(offset)}: {exc}", path=self.path, offset=offset
            ) from None

    def _next(
        self,
        src: Source,
        keep: Callable[[EventHeader], bool],
        banks: Iterable[str] | None = None,
        on_skip: Callable[[int, EventHeader], None] | None = None,
        state: PassState | None = None,
    ) -> Event | None:
        """The next event `keep` wants (others are skipped undecoded), or None at the end.

        With a `state` a corrupt event is reported in `state.skipped` and reading goes on
        at the next plausible header; without one it raises MidasCorruptError.
        """
        bound = self.max_event_size if state is None else state.bound
        while True:
            offset = src.offset
            head = self._guarded(offset, src.read, EVENT_HEADER_SIZE)
            if not head:
                if src.end_problem:
                    raise self._truncated(offset, src.end_problem)
                return None
            if len(head) < EVENT_HEADER_SIZE:
                why = src.end_problem or "the file ends"
                raise self._truncated(
                    offset, f"{why} inside an event header ({len(head)} of 16 bytes)"
                )
            header = EventHeader.from_buffer(head)
            size = header.data_size
            problem = header_problem(header, bound)
            if problem is not None:
                self._resync(src, offset, head, problem, header, state)
                continue
            wanted = keep(header) or header.event_id == EOR_EVENT_ID
            if not wanted:
                flags = None
                got = 0
                if not header.is_internal:
                    bank_head = self._guarded(offset, src.read, BANK_HEADER_SIZE)
                    got = len(bank_head)
                    if got < BANK_HEADER_SIZE:
                        raise self._short_body(src, offset, header, got)
                    problem = bank_header_problem(header, bank_head)
                    if problem is not None:
                        self._resync(src, offset, head + bank_head, problem, header, state)
                        continue
                    flags = int.from_bytes(bank_head[4:8], "little")
                got += self._guarded(offset, src.skip, size - got)
                if got < size:
                    raise self._short_body(src, offset, header, got)
                if state is not None:
                    state.note(header, flags)
                if on_skip is not None:
                    on_skip(offset, header)
                continue
            body = self._guarded(offset, src.read, size)
            if not header.is_internal and len(body) >= BANK_HEADER_SIZE:
                problem = bank_header_problem(header, body)
                if problem is not None:
                    self._resync(src, offset, head + body, problem, header, state)
                    continue
            if len(body) < size:
                raise self._short_body(src, offset, header, len(body))
            try:
                event = decode_body(header, body, banks=banks)
            except MidasCorruptError as exc:
                if state is None:
                    raise MidasCorruptError(
                        f"{self._where(offset)}: {exc}",
                        path=self.path,
                        offset=offset,
                        serial_number=exc.serial_number,
                        event_id=exc.event_id,
                    ) from None
                # the event's sizes agree, so only this event is lost: go on after it
                end = offset + EVENT_HEADER_SIZE + size
                self._skip_report(state, offset, end, str(exc))
                continue
            event.offset = offset
            if state is not None:
                state.note(header, event.bank_format)
            if event.is_eor:
                self.eor_event = event
                if not keep(header):
                    if on_skip is not None:
                        on_skip(offset, header)
                    continue
            return event

    def _skip_report(self, state: PassState, start: int, end: int | None, why: str) -> None:
        skipped = SkippedBytes(str(self.path), start, end, why, bool(self.compression))
        state.skipped.append(skipped)
        if self.on_corrupt is not None:
            self.on_corrupt(skipped)

    def _resync(
        self,
        src: Source,
        offset: int,
        consumed: bytes,
        why: str,
        header: EventHeader,
        state: PassState | None,
    ) -> None:
        """After a corrupt header at `offset`: leave `src` at the next plausible header.

        `consumed` are the bytes already read from `offset` on; the scan goes on in
        chunks, so no more than one chunk plus one event is ever held.
        """
        if state is None:
            raise MidasCorruptError(
                f"{self._where(offset)}: {why}",
                path=self.path,
                offset=offset,
                serial_number=header.serial_number,
                event_id=header.event_id,
            )
        if not state.known_ids:
            state.known_ids = self._equipment_ids()
        base = offset + 1
        buf = bytes(consumed[1:])
        while True:
            more = self._guarded(base + len(buf), src.read, SCAN_CHUNK)
            buf += more
            found = find_header(buf, state, final=not more)
            if found is not None:
                src.unread(buf[found:])
                self._skip_report(state, offset, base + found, why)
                return
            if not more:
                if src.end_problem:
                    why = f"{why} (and then {src.end_problem})"
                self._skip_report(state, offset, None, why)
                return
            keep = HEADERS - 1  # a header may straddle two chunks
            base += len(buf) - keep
            buf = buf[-keep:]

    def _equipment_ids(self) -> frozenset[int]:
        try:
            return equipment_event_ids(self.bor_odb)
        except Exception:  # an unreadable dump only means no ids to go by
            return frozenset()

    def _short_body(
        self, src: Source, offset: int, header: EventHeader, got: int
    ) -> MidasTruncatedError:
        why = src.end_problem or "the file ends"
        return self._truncated(
            offset,
            f"{why} inside event serial {header.serial_number} (id {header.event_id:#x}): "
            f"{got} of its {header.data_size} data bytes",
            header,
        )

    # -- iteration -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def events(
        self,
        event_ids: int | Iterable[int] | None = None,
        banks: str | Iterable[str] | None = None,
        include_internal: bool = False,
    ) -> Iterator[Event]:
        """Events from the start of the file, optionally only some ids and some banks.

        Events of other ids are skipped without decoding, as are banks not in
        `banks`.  BOR/EOR/message events come only with `include_internal`.  Starting
        a new pass ends the previous one (they share the stream).
        """
        ids = None
        if event_ids is not None:
            ids = frozenset(
                i & 0xFFFF for i in ([event_ids] if isinstance(event_ids, int) else event_ids)
            )
        names = None if banks is None else ([banks] if isinstance(banks, str) else list(banks))

        def keep(header: EventHeader) -> bool:
            if header.is_internal and not include_internal:
                return False
            return ids is None or header.event_id in ids

        return self._iterate(keep, names, 0 if include_internal else self._data_start)

    def _iterate(
        self, keep: Callable[[EventHeader], bool], banks: list[str] | None, start: int
    ) -> Iterator[Event]:
        self._pass += 1
        this_pass = self._pass
        src = self._source
        self._guarded(start, src.seek, start)
        state = self._pass_state()
        self.skipped = state.skipped
        while True:
            if self._pass != this_pass:
                raise RuntimeError(f"{self.path}: another pass over this file started")
            event = self._next(src, keep, banks, state=state)
            if event is None:
                self.complete = self.eor_event is not None
                return
            yield event

    # -- ODB dumps -------------------------------------------------------------------------

    @property
    def bor_odb_dump(self) -> OdbDump | None:
        """The begin-of-run dump with MIDAS's key metadata; None without one."""
        if self.bor_event is None:
            return None
        with self._naming_dump("begin-of-run"):
            return read_odb_dump(self.bor_event.payload or b"")

    @property
    def bor_odb(self) -> dict[str, Any] | None:
        """The begin-of-run ODB as nested dicts; None if the file has no BOR dump."""
        if self.bor_event is None:
            return None
        with self._naming_dump("begin-of-run"):
            return self.bor_event.odb

    @property
    def eor_odb(self) -> dict[str, Any] | None:
        """The end-of-run ODB, once the end was read (iteration, build_index, read_eor)."""
        if self.eor_event is None:
            return None
        with self._naming_dump("end-of-run"):
            return self.eor_event.odb

    @contextlib.contextmanager
    def _naming_dump(self, which: str) -> Iterator[None]:
        """An unreadable ODB dump's error names this file and which dump it is."""
        try:
            yield
        except MidasFormatError as exc:
            if str(exc).startswith(str(self.path)):
                raise
            event = self.bor_event if which == "begin-of-run" else self.eor_event
            raise MidasFormatError(
                f"{self.path}: {which} {exc}", path=self.path,
                offset=None if event is None else event.offset,
            ) from None

    def read_eor(self) -> dict[str, Any] | None:
        """Find the end-of-run dump now (scanning headers to the end); None if absent."""
        if self.eor_event is None:
            start = self._data_start
            if self._index is not None and len(self._index):
                start = int(self._index.offsets[-1] + EVENT_HEADER_SIZE)
                start += int(self._index.data_sizes[-1])
            src = self._random_source()
            self._guarded(start, src.seek, start)
            state = self._pass_state()
            while self._next(src, lambda h: False, state=state) is not None:
                pass
            self.complete = self.eor_event is not None
        return self.eor_odb

    def bytes_read(self) -> int | None:
        """How much of the file the event pass has read (compressed bytes; None when the
        decompressor does not say): for progress estimates."""
        return self._source.bytes_consumed

    @property
    def run_number(self) -> int | None:
        """The run number: the BOR serial number (mlogger's), else the ODB's Runinfo."""
        if self.bor_event is not None:
            return self.bor_event.serial_number
        return None

    # -- random access ---------------------------------------------------------------------

    def _random_source(self) -> Source:
        if self._random is None:
            self._random = open_source(self.path, self.compression)
        return self._random

    def build_index(self) -> EventIndex:
        """Offsets and headers of all data events (one header scan, bodies skipped).

        On a truncated file the index of the complete events is kept (len() works)
        and the MidasTruncatedError is raised.
        """
        if self._index is not None:
            return self._index
        builder = _IndexBuilder()
        state = self._pass_state()
        self.index_skipped = state.skipped
        src = self._random_source()
        self._guarded(self._data_start, src.seek, self._data_start)

        def record(offset: int, header: EventHeader) -> None:
            if not header.is_internal:
                builder.add(offset, header)

        try:
            while self._next(src, lambda h: False, on_skip=record, state=state) is not None:
                pass
        finally:
            self._index = builder.finish()
        self.complete = self.eor_event is not None
        return self._index

    @property
    def index(self) -> EventIndex | None:
        return self._index

    def event_at(self, number: int, banks: Iterable[str] | None = None) -> Event:
        """The `number`-th data event (as `events()` counts), decoded."""
        index = self.build_index() if self._index is None else self._index
        count = len(index)
        if not -count <= number < count:
            raise IndexError(f"{self.path}: event {number} out of range ({count} events)")
        offset = int(index.offsets[number])
        src = self._random_source()
        self._guarded(offset, src.seek, offset)
        event = self._next(src, lambda h: True, banks)
        assert event is not None
        return event

    def __getitem__(self, number: int) -> Event:
        return self.event_at(number)

    def __len__(self) -> int:
        if self._index is None:
            raise TypeError(f"{self.path}: call build_index() before len()")
        return len(self._index)

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._source.close()
        if self._random is not None:
            self._random.close()

    def __enter__(self) -> MidasFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"MidasFile({str(self.path)!r}, compression={self.compression}, run={self.run_number})"
        )


def open_midas(
    path: str | os.PathLike[str], max_event_size: int | None = None
) -> MidasFile:
    """Open a MIDAS file of any compression; use it as a context manager.

    `max_event_size` overrides the bound on one event's size (see `resync`).
    """
    return MidasFile(path, max_event_size)
