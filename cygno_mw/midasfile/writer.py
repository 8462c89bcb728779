"""Writing MIDAS files as mlogger does: BOR ODB dump, events, EOR ODB dump.

The file is written in place, like mlogger.  What marks it complete is the closing
end-of-run dump (and, for `.lz4`, the frame's end mark): a writer that dies, or a
`with` block left by an exception, leaves a file without EOR, which the reader
reports as incomplete (`MidasFile.complete` is False) or truncated.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cygno_mw.midasfile.errors import MidasEncodeError
from cygno_mw.midasfile.event import (
    BANK32A,
    BOR_EVENT_ID,
    EOR_EVENT_ID,
    EVENT_HEADER_SIZE,
    MESSAGE_EVENT_ID,
    Bank,
    EventHeader,
    encode_event_parts,
    encode_internal_event,
)
from cygno_mw.midasfile.odbdump import dump_odb_json
from cygno_mw.midasfile.streams import COMPRESSIONS, compression_from_suffix, open_sink

_AUTO = "auto"
MT_INFO = 1 << 1  # MIDAS message type "info", the trigger mask of message events


class MidasWriter:
    """A MIDAS file being written; use as a context manager.

    `compression` is 'lz4', 'gzip', 'bz2', None (plain) or 'auto' (from the suffix).
    `odb` is copied; change `writer.odb` during the run and the EOR dump shows it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        run_number: int,
        odb: Mapping[str, Any] | None = None,
        *,
        compression: str | None = _AUTO,
        bank_format: int = BANK32A,
        odb_metadata: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        if compression == _AUTO:
            compression = compression_from_suffix(self.path)
        if compression == "none":
            compression = None
        if compression is not None and compression not in COMPRESSIONS:
            raise MidasEncodeError(
                f"unknown compression {compression!r} (one of {', '.join(COMPRESSIONS)})"
            )
        self.compression = compression
        self.run_number = int(run_number)
        self.odb: dict[str, Any] = copy.deepcopy(dict(odb or {}))
        self.odb_metadata = dict(odb_metadata or {})
        self.bank_format = bank_format
        self.events_written = 0
        self.bytes_written = 0  # uncompressed
        self._serials: dict[int, int] = {}
        self._sink = open_sink(self.path, compression)
        self._closed = False
        try:
            self._write_dump(BOR_EVENT_ID)
        except BaseException:
            self.abort()
            raise

    def _put(self, parts: Iterable[bytes | memoryview]) -> None:
        for part in parts:
            self.bytes_written += self._sink.write(part) or 0

    def _write_dump(self, event_id: int) -> None:
        text = dump_odb_json(self.odb, self.odb_metadata)
        self._put([encode_internal_event(event_id, text, serial_number=self.run_number,
                                         timestamp=self._transition_time(event_id))])

    def _transition_time(self, event_id: int) -> int | None:
        """The ODB's start (BOR) or stop (EOR) time, as mlogger stamps its dumps; else now."""
        runinfo = self.odb.get("Runinfo")
        key = "Start time binary" if event_id == BOR_EVENT_ID else "Stop time binary"
        value = runinfo.get(key) if isinstance(runinfo, dict) else None
        if isinstance(value, (int, float)) and 0 < value < 1 << 32:
            return int(value)
        return None

    def _check_open(self) -> None:
        if self._closed:
            raise MidasEncodeError(f"{self.path}: writer is closed")

    def write(
        self,
        event_id: int,
        banks: Mapping[str, Any] | Iterable[Bank],
        serial_number: int | None = None,
        timestamp: int | None = None,
        trigger_mask: int = 0,
    ) -> int:
        """Append one banked event; returns its serial number (auto: per event id, from 0)."""
        self._check_open()
        key = event_id & 0xFFFF
        serial = self._serials.get(key, 0) if serial_number is None else serial_number
        parts = encode_event_parts(
            event_id, banks, serial, timestamp, trigger_mask, bank_format=self.bank_format
        )
        self._put(parts)
        self._serials[key] = serial + 1
        self.events_written += 1
        return serial

    def write_raw(self, data: bytes | bytearray | memoryview) -> None:
        """Append one already-encoded event (header + data), checked for a consistent size."""
        self._check_open()
        view = memoryview(data)
        if view.nbytes < EVENT_HEADER_SIZE:
            raise MidasEncodeError(f"{view.nbytes} bytes are too few for a MIDAS event")
        header = EventHeader.from_buffer(view)
        if header.data_size != view.nbytes - EVENT_HEADER_SIZE:
            raise MidasEncodeError(
                f"event header says {header.data_size} data bytes, "
                f"{view.nbytes - EVENT_HEADER_SIZE} were given"
            )
        self._put([view])
        if not header.is_internal:
            self._serials[header.event_id] = header.serial_number + 1
        self.events_written += 1

    def write_message(self, text: str, timestamp: int | None = None) -> None:
        """Append a MIDAS message event (id 0x8002), as mlogger logs system messages."""
        self._check_open()
        self._put([encode_internal_event(MESSAGE_EVENT_ID, text + "\0", 0, timestamp, MT_INFO)])

    def flush(self) -> None:
        self._sink.flush()

    def close(self) -> None:
        """Write the end-of-run dump and close: the file is then complete."""
        if self._closed:
            return
        try:
            self._write_dump(EOR_EVENT_ID)
        finally:
            self._closed = True
            self._sink.close()

    def abort(self) -> None:
        """Close without the end-of-run dump: readers will see an incomplete run."""
        if self._closed:
            return
        self._closed = True
        self._sink.close()

    def __enter__(self) -> MidasWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return (
            f"MidasWriter({str(self.path)!r}, run={self.run_number}, events={self.events_written})"
        )
