"""In-memory stand-in for MIDAS's Python package (`$MIDASSYS/python`), for tests only.

tests/conftest.py puts this folder on sys.path only when the real `midas` package is not
importable, so product code imports the real names (`import midas`, `midas.client`,
`midas.frontend`, `midas.event`) and runs unchanged against either.  It was written from the
real package's documented behaviour (develop branch; /work/shared/docs/midas-python-api.md),
not copied from it.

Reproduced (one in-process "experiment", see `midas.standin`):
- constants and tables: TID_*, TR_*, STATE_*, RO_*, EQ_*, MT_*, GET_ALL / GET_NONBLOCKING /
  GET_RECENT (the real package has no GET_SOME: C's old name for GET_NONBLOCKING, value 2),
  BM_WAIT, AT_*, status_codes, tid_sizes / tid_unpack_formats / tid_np_formats, MidasError,
  TransitionFailedError, endian_format_flag;
- `midas.client.MidasClient`: ODB (case-insensitive lookup, typed keys, odb_get with
  recurse_dir / include_key_metadata and one-element arrays read back as scalars, odb_set with
  create_if_needed / remove_unspecified_keys (default True) / resize_arrays / lengthen_strings /
  explicit_new_midas_type / update_structure_only and the real type casts and errors, `[i]`
  single elements, links, delete, rename, exists), odb_watch in both callback shapes (queued by
  every write, delivered by communicate(), exceptions turned into error messages like the real
  wrapper), run transitions with callbacks in ascending sequence order, TR_STARTABORT after a
  failed start and /Runinfo bookkeeping, event buffers (send_event checks the size like
  bm_send_event; GET_ALL / GET_NONBLOCKING / GET_RECENT requests; receive_event with use_numpy
  and the MAX_EVENT_SIZE receive limit), msg() into a message log readable with
  get_recent_messages(), internal / evaluated alarms, alarm classes, JRPC callback registration,
  communicate() (also the Programs-page stop: SystemExit(0) as the real wrapper exits);
- `midas.frontend`: module state and parse_args() with the real flags, InitialEquipmentCommon,
  EquipmentBase (the real Common / Settings / Variables / Statistics layout and its ODB types,
  Settings mirroring, settings_changed_func then detailed_settings_changed_func, set_status),
  FrontendBase (transition hooks at sequence 500, /Runinfo/State watch, periodic and polled
  equipment, Read-on masks, events at transitions, statistics, Log-history copy of every bank into
  Variables, the real loop's yield time);
- `midas.event`: Event / EventHeader / Bank with the real binary layout (16-byte header, bank32
  and align64 flags, 8-byte padding) and the real (struct-based, slow for big banks) pack().

Left out: the ctypes library (`client.lib`), remote (mserver) connections, deferred
transitions (register_deferred_transition_callback raises NotImplementedError), pause/resume of a
run started elsewhere, message callbacks, jrpc_client_call, subevents, FIXED format, daemonising.
Deliberate differences, for tests: several clients may share the process's experiment (the real
library allows one client per process); a transition runs the callbacks of every client at once
inside start_run()/stop_run() instead of over RPC; time is virtual by default (communicate()
advances a clock instead of sleeping).
"""

from __future__ import annotations

import json
import logging

import numpy as np

logger = logging.getLogger("midas")
logger.addHandler(logging.NullHandler())

STATE_STOPPED = 1
STATE_PAUSED = 2
STATE_RUNNING = 3

MT_ERROR = 1 << 0
MT_INFO = 1 << 1
MT_DEBUG = 1 << 2
MT_USER = 1 << 3
MT_LOG = 1 << 4
MT_TALK = 1 << 5
MT_CALL = 1 << 6
MT_ALL = 0xFF

TID_BYTE = 1
TID_UINT8 = TID_BYTE
TID_SBYTE = 2
TID_INT8 = TID_SBYTE
TID_CHAR = 3
TID_WORD = 4
TID_UINT16 = TID_WORD
TID_SHORT = 5
TID_INT16 = TID_SHORT
TID_DWORD = 6
TID_UINT32 = TID_DWORD
TID_INT = 7
TID_INT32 = TID_INT
TID_BOOL = 8
TID_FLOAT = 9
TID_FLOAT32 = TID_FLOAT
TID_DOUBLE = 10
TID_FLOAT64 = TID_DOUBLE
TID_BITFIELD = 11
TID_STRING = 12
TID_ARRAY = 13
TID_STRUCT = 14
TID_KEY = 15
TID_LINK = 16
TID_INT64 = 17
TID_QWORD = 18
TID_UINT64 = TID_QWORD

AT_INTERNAL = 1
AT_PROGRAM = 2
AT_EVALUATED = 3
AT_PERIODIC = 4

TR_START = 1
TR_STOP = 2
TR_PAUSE = 4
TR_RESUME = 8
TR_STARTABORT = 16

TR_SYNC = 1
TR_ASYNC = 2
TR_DETACH = 4
TR_MTHREAD = 8

BM_WAIT = 0
BM_NO_WAIT = 1

GET_ALL = 1
GET_NONBLOCKING = 2
GET_RECENT = 4

RO_RUNNING = 1 << 0
RO_STOPPED = 1 << 1
RO_PAUSED = 1 << 2
RO_BOR = 1 << 3
RO_EOR = 1 << 4
RO_PAUSE = 1 << 5
RO_RESUME = 1 << 6
RO_TRANSITIONS = RO_BOR | RO_EOR | RO_PAUSE | RO_RESUME
RO_ALWAYS = 0xFF
RO_ODB = 1 << 8

EQ_PERIODIC = 1 << 0
EQ_POLLED = 1 << 1
EQ_INTERRUPT = 1 << 2
EQ_MULTITHREAD = 1 << 3
EQ_SLOW = 1 << 4
EQ_MANUAL_TRIG = 1 << 5
EQ_FRAGMENTED = 1 << 6
EQ_EB = 1 << 7
EQ_USER = 1 << 8

MAX_STRING_LENGTH = 256
RPC_JRPC = 18000

status_codes = {
    "SUCCESS": 1,
    "CM_SET_ERROR": 102,
    "CM_NO_CLIENT": 103,
    "CM_DB_ERROR": 104,
    "CM_UNDEF_EXP": 105,
    "CM_SHUTDOWN": 107,
    "CM_DEFERRED_TRANSITION": 110,
    "CM_TRANSITION_IN_PROGRESS": 111,
    "CM_TIMEOUT": 112,
    "CM_INVALID_TRANSITION": 113,
    "CM_TRANSITION_CANCELED": 116,
    "BM_CREATED": 202,
    "BM_NO_MEMORY": 203,
    "BM_INVALID_NAME": 204,
    "BM_INVALID_HANDLE": 205,
    "BM_NOT_FOUND": 208,
    "BM_ASYNC_RETURN": 209,
    "BM_TRUNCATED": 210,
    "BM_INVALID_PARAM": 215,
    "DB_CREATED": 302,
    "DB_INVALID_NAME": 304,
    "DB_INVALID_HANDLE": 305,
    "DB_INVALID_PARAM": 309,
    "DB_KEY_EXIST": 311,
    "DB_NO_KEY": 312,
    "DB_TYPE_MISMATCH": 315,
    "DB_OUT_OF_RANGE": 321,
    "DB_INVALID_LINK": 322,
    "RPC_SHUTDOWN": 509,
    "FE_ERR_ODB": 602,
    "FE_ERR_HW": 603,
    "FE_ERR_DISABLED": 604,
    "FE_ERR_DRIVER": 605,
    "FE_PARTIALLY_DISABLED": 606,
    "AL_INVALID_NAME": 1002,
    "AL_ERROR_ODB": 1003,
    "AL_RESET": 1004,
    "AL_TRIGGERED": 1005,
}
status_codes_to_text = {v: k for k, v in status_codes.items()}

tid_sizes = {
    TID_BYTE: 1, TID_SBYTE: 1, TID_CHAR: 1, TID_WORD: 2, TID_SHORT: 2, TID_DWORD: 4,
    TID_INT: 4, TID_BOOL: 4, TID_FLOAT: 4, TID_DOUBLE: 8, TID_BITFIELD: 4, TID_STRING: None,
    TID_ARRAY: None, TID_STRUCT: None, TID_KEY: None, TID_LINK: None, TID_INT64: 8,
    TID_QWORD: 8,
}
tid_unpack_formats = {
    TID_BYTE: "B", TID_SBYTE: "b", TID_CHAR: "B", TID_WORD: "H", TID_SHORT: "h",
    TID_DWORD: "I", TID_INT: "i", TID_BOOL: "I", TID_FLOAT: "f", TID_DOUBLE: "d",
    TID_BITFIELD: "I", TID_STRING: None, TID_ARRAY: None, TID_STRUCT: None, TID_KEY: None,
    TID_LINK: None, TID_QWORD: "Q", TID_INT64: "q",
}
tid_np_formats = {
    TID_BYTE: np.uint8, TID_SBYTE: np.int8, TID_CHAR: np.uint8, TID_WORD: np.uint16,
    TID_SHORT: np.int16, TID_DWORD: np.uint32, TID_INT: np.int32, TID_BOOL: np.uint32,
    TID_FLOAT: np.float32, TID_DOUBLE: np.float64, TID_BITFIELD: np.uint32, TID_STRING: None,
    TID_ARRAY: None, TID_STRUCT: None, TID_KEY: None, TID_LINK: None, TID_QWORD: np.uint64,
    TID_INT64: np.int64,
}
tid_texts = {
    TID_BYTE: "Unsigned Byte", TID_SBYTE: "Signed Byte", TID_CHAR: "Char",
    TID_WORD: "Unsigned Word", TID_SHORT: "Signed Word", TID_DWORD: "Unsigned Integer",
    TID_INT: "Signed Integer", TID_BOOL: "Boolean", TID_FLOAT: "Float", TID_DOUBLE: "Double",
    TID_BITFIELD: "Bitfield", TID_STRING: "String", TID_ARRAY: "Array", TID_STRUCT: "Struct",
    TID_KEY: "Key", TID_LINK: "Link", TID_QWORD: "Unsigned 64-bit Integer",
    TID_INT64: "Signed 64-bit Integer",
}

endian_format_flag = "<"


class MidasError(Exception):
    """A MIDAS call returned a status other than SUCCESS (code and its name)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class TransitionFailedError(MidasError):
    """A run transition this client asked for failed."""


class TransitionDeferredError(MidasError):
    """A run transition this client asked for was deferred by another client."""


def status_code_to_text(code: int) -> str:
    return status_codes_to_text.get(code, "UNKNOWN_STATUS_CODE")


def status_code_to_exception(code: int, ignore: list[int], keyname: str | None = None) -> None:
    """Raise what the real wrapper raises for a C status code (KeyError for DB_NO_KEY...)."""
    if code in ignore or code == status_codes["SUCCESS"]:
        return
    if code == status_codes["DB_NO_KEY"]:
        raise KeyError(f"Key '{keyname}' not found in ODB" if keyname else "Key not found in ODB")
    if code == status_codes["DB_TYPE_MISMATCH"]:
        raise TypeError("Invalid type for ODB parameter")
    raise MidasError(code, status_code_to_text(code))


def safe_to_json(input_str: bytes, use_ordered_dict: bool = False) -> dict:
    import collections

    decoded = input_str.decode("utf-8", "ignore")
    hook = collections.OrderedDict if use_ordered_dict else None
    return json.loads(decoded, strict=False, object_pairs_hook=hook)
