"""`cygno-mw dump FILE`: the events and banks of a MIDAS file, like MIDAS's mdump.

Per event the header, then per bank its name, type, size and first values; `--json`
writes one JSON object per event (first values and statistics, never whole arrays);
`--odb` prints the begin-of-run ODB dump instead.  A corrupt stretch of the file is
reported on stderr and skipped; the dump goes on at the next good event and exits 3.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from cygno_mw.errors import CygnoError, UsageError

PARTIAL_EXIT = 3  # corrupt stretches were skipped (each reported on stderr), as replay's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .mid, .mid.lz4, .mid.gz or .mid.bz2 file")
    parser.add_argument(
        "-n", "--max-events", type=int, metavar="N", help="stop after N events (shown)"
    )
    parser.add_argument(
        "-i",
        "--event-id",
        action="append",
        metavar="ID",
        help="only events of this id (repeat or comma-separate; 0x8000 = BOR)",
    )
    parser.add_argument("-b", "--banks", metavar="A,B", help="only these banks")
    parser.add_argument(
        "--values", type=int, default=8, metavar="N", help="values shown per bank (default 8)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument("--odb", action="store_true", help="print the begin-of-run ODB dump")


def _event_ids(raw: list[str] | None) -> list[int] | None:
    if not raw:
        return None
    ids = []
    for item in ",".join(raw).split(","):
        try:
            ids.append(int(item.strip(), 0))
        except ValueError:
            raise UsageError(f"--event-id: {item!r} is not a number (e.g. 1 or 0x8000)") from None
    return ids


def run(args: argparse.Namespace) -> int:
    from cygno_mw.midasfile import open_midas

    if args.max_events is not None and args.max_events < 0:
        raise UsageError("--max-events must be zero or more")
    if args.values < 0:
        raise UsageError("--values must be zero or more")
    ids = _event_ids(args.event_id)
    banks = [b.strip() for b in args.banks.split(",") if b.strip()] if args.banks else None
    with open_midas(args.file) as midas:
        if args.odb:
            return _print_odb(midas, as_json=args.json)
        if args.max_events == 0:
            return 0
        midas.on_corrupt = lambda skipped: print(f"cygno-mw dump: {skipped}", file=sys.stderr)
        events = midas.events(event_ids=ids, banks=banks, include_internal=True)
        for number, event in enumerate(events):
            if args.json:
                print(json.dumps(_event_record(number, event, args.values)))
            else:
                print(_event_text(number, event, args.values))
            if args.max_events is not None and number + 1 >= args.max_events:
                break
        return PARTIAL_EXIT if midas.skipped else 0


def _print_odb(midas: Any, *, as_json: bool) -> int:
    if midas.bor_event is None:
        raise CygnoError(f"{midas.path} has no begin-of-run ODB dump")
    if as_json:
        print(json.dumps(_finite(midas.bor_odb), indent=2))
    else:
        text = midas.bor_event.text
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


# -- text, as mdump -----------------------------------------------------------------------

_INTERNAL_NAMES = {0x8000: "begin-of-run ODB dump", 0x8001: "end-of-run ODB dump"}


def _event_text(number: int, event: Any, values: int) -> str:
    h = event.header
    lines = [
        f"------------------------ Event# {number} ------------------------",
        f"Evid:{h.event_id:04x}- Mask:{h.trigger_mask:04x}- Serial:{h.serial_number}- "
        f"Time:0x{h.timestamp:x}- Dsize:{h.data_size}/0x{h.data_size:x}",
    ]
    if event.is_internal:
        if event.is_message:
            lines.append(f"Message: {event.text}")
        else:
            lines.append(f"{_INTERNAL_NAMES[h.event_id]}: {h.data_size} bytes ({_odb_kind(event)})")
        return "\n".join(lines)
    names = "".join(f"{name:4}" for name in event.banks)
    lines.append(f"#banks:{len(event.banks)} Bank list:-{names}-")
    for bank in event.banks.values():
        lines.append(
            f"Bank:{bank.name} Length: {bank.nbytes}(I*1)/{bank.nbytes // 4}(I*4)/"
            f"{bank.data.size}(Type) Type:{_type_text(bank.tid)}"
        )
        lines.extend(_value_rows(bank, values))
    return "\n".join(lines)


def _odb_kind(event: Any) -> str:
    head = bytes(event.payload[:1]) if event.payload is not None else b""
    return {b"{": "JSON", b"<": "XML", b"[": "ASCII"}.get(head, "unknown format")


def _type_text(tid: int) -> str:
    from cygno_mw.midasfile.tid import TID_TEXTS

    return TID_TEXTS.get(tid, f"TID {tid}")


def _value_rows(bank: Any, count: int) -> list[str]:
    from cygno_mw.midasfile import tid as t

    if count == 0 or bank.data.size == 0:
        return []
    if bank.tid in (t.TID_STRING, t.TID_LINK):
        return [f"   1-> {bank.text()[: max(count, 80)]!r}"]
    first = bank.data[:count]
    formats = {
        t.TID_UINT8: "0x{:02x}",
        t.TID_ARRAY: "0x{:02x}",
        t.TID_STRUCT: "0x{:02x}",
        t.TID_KEY: "0x{:02x}",
        t.TID_INT8: "{:4d}",
        t.TID_UINT16: "0x{:04x}",
        t.TID_INT16: "{:5d}",
        t.TID_UINT32: "0x{:08x}",
        t.TID_BITFIELD: "0x{:08x}",
        t.TID_INT32: "{:8d}",
        t.TID_FLOAT: "{:8.3e}",
        t.TID_DOUBLE: "{:15.5e}",
        t.TID_INT64: "{:16d}",
        t.TID_UINT64: "0x{:016x}",
    }
    if bank.tid == t.TID_BOOL:
        cells = ["Y" if v else "N" for v in first.tolist()]
    elif bank.tid == t.TID_CHAR:
        cells = [_char(v) for v in first.tolist()]
    else:
        cells = [formats.get(bank.tid, "{}").format(v) for v in first.tolist()]
    return [
        f"{start + 1:4d}-> " + " ".join(cells[start : start + 8])
        for start in range(0, len(cells), 8)
    ]


def _char(value: bytes) -> str:
    text = value.decode("latin-1") if value else "\\x00"
    return text if text.isprintable() else f"\\x{ord(text):02x}"


# -- JSON ---------------------------------------------------------------------------------


def _event_record(number: int, event: Any, values: int) -> dict[str, Any]:
    from cygno_mw.midasfile.event import bank_layout

    h = event.header
    record: dict[str, Any] = {
        "event": number,
        "offset": event.offset,
        "event_id": h.event_id,
        "trigger_mask": h.trigger_mask,
        "serial_number": h.serial_number,
        "timestamp": h.timestamp,
        "data_size": h.data_size,
    }
    if event.is_internal:
        if event.is_message:
            record["kind"] = "message"
            record["message"] = event.text
        else:
            record["kind"] = "bor" if event.is_bor else "eor"
            record["odb_format"] = _odb_kind(event).lower()
        return record
    layouts = {1: "BANK16", 17: "BANK32", 49: "BANK32A"}
    record["bank_format"] = layouts[bank_layout(event.bank_format)]
    record["banks"] = [_bank_record(bank, values) for bank in event.banks.values()]
    return record


def _bank_record(bank: Any, values: int) -> dict[str, Any]:
    import numpy as np

    from cygno_mw.midasfile import tid as t

    record: dict[str, Any] = {
        "name": bank.name,
        "type": bank.type_name,
        "tid": bank.tid,
        "bytes": bank.nbytes,
        "count": int(bank.data.size),
    }
    if bank.tid in (t.TID_CHAR, t.TID_STRING, t.TID_LINK):
        record["text"] = bank.text()[: max(values, 80)]
        return record
    record["first"] = _finite(bank.data[:values].tolist())
    if bank.data.size and bank.tid not in (t.TID_ARRAY, t.TID_STRUCT, t.TID_KEY):
        data = bank.data
        record["min"] = _finite(data.min().item())
        record["max"] = _finite(data.max().item())
        record["mean"] = _finite(float(np.mean(data, dtype=np.float64)))
    return record


def _finite(value: Any) -> Any:
    """NaN and infinities as strings, so the output stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
