"""Our own implementation of the MIDAS event and file format (no MIDAS install needed).

`event` encodes and decodes events and banks (decoded banks are zero-copy NumPy
views), `tid` maps MIDAS type ids to dtypes, `odbdump` reads and writes ODB dumps,
`reader` and `writer` handle `.mid` files, plain or compressed (lz4, gzip, bzip2).
"""

from __future__ import annotations

from cygno_mw.midasfile.errors import (
    BankNotFoundError,
    MidasCorruptError,
    MidasEncodeError,
    MidasFileNotFoundError,
    MidasFormatError,
    MidasTruncatedError,
    NotMidasError,
    OdbKeyError,
)
from cygno_mw.midasfile.event import (
    BANK16,
    BANK32,
    BANK32A,
    BOR_EVENT_ID,
    EOR_EVENT_ID,
    MESSAGE_EVENT_ID,
    MIDAS_MAGIC,
    Bank,
    Event,
    EventHeader,
    decode_event,
    encode_event,
)
from cygno_mw.midasfile.odbdump import dump_odb_json, odb_get, parse_odb_dump, read_odb_dump
from cygno_mw.midasfile.reader import MidasFile, open_midas
from cygno_mw.midasfile.writer import MidasWriter

__all__ = [
    "BANK16",
    "BANK32",
    "BANK32A",
    "BOR_EVENT_ID",
    "EOR_EVENT_ID",
    "MESSAGE_EVENT_ID",
    "MIDAS_MAGIC",
    "Bank",
    "BankNotFoundError",
    "Event",
    "EventHeader",
    "MidasCorruptError",
    "MidasEncodeError",
    "MidasFile",
    "MidasFileNotFoundError",
    "MidasFormatError",
    "MidasTruncatedError",
    "MidasWriter",
    "NotMidasError",
    "OdbKeyError",
    "decode_event",
    "dump_odb_json",
    "encode_event",
    "odb_get",
    "open_midas",
    "parse_odb_dump",
    "read_odb_dump",
]
