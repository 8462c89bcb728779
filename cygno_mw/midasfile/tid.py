"""MIDAS type identifiers (TID_*) and their NumPy dtypes.

The numbers are those of MIDAS's `midas.h`; bank data are little-endian.  Types
without a fixed element (STRING, ARRAY, STRUCT, KEY, LINK) map to single bytes so a
bank of any of them still decodes as a zero-copy view: `S1` for text, `u1` for raw.
TID_BOOL is 4 bytes in banks, so it decodes as `uint32` (0 or 1).
"""

from __future__ import annotations

import numpy as np

from cygno_mw.midasfile.errors import MidasEncodeError

TID_UINT8 = 1
TID_BYTE = 1
TID_INT8 = 2
TID_SBYTE = 2
TID_CHAR = 3
TID_UINT16 = 4
TID_WORD = 4
TID_INT16 = 5
TID_SHORT = 5
TID_UINT32 = 6
TID_DWORD = 6
TID_INT32 = 7
TID_INT = 7
TID_BOOL = 8
TID_FLOAT = 9
TID_FLOAT32 = 9
TID_DOUBLE = 10
TID_FLOAT64 = 10
TID_BITFIELD = 11
TID_STRING = 12
TID_ARRAY = 13
TID_STRUCT = 14
TID_KEY = 15
TID_LINK = 16
TID_INT64 = 17
TID_UINT64 = 18
TID_QWORD = 18
TID_LAST = 19

_DTYPES: dict[int, np.dtype] = {
    TID_UINT8: np.dtype("u1"),
    TID_INT8: np.dtype("i1"),
    TID_CHAR: np.dtype("S1"),
    TID_UINT16: np.dtype("<u2"),
    TID_INT16: np.dtype("<i2"),
    TID_UINT32: np.dtype("<u4"),
    TID_INT32: np.dtype("<i4"),
    TID_BOOL: np.dtype("<u4"),
    TID_FLOAT: np.dtype("<f4"),
    TID_DOUBLE: np.dtype("<f8"),
    TID_BITFIELD: np.dtype("<u4"),
    TID_STRING: np.dtype("S1"),
    TID_ARRAY: np.dtype("u1"),
    TID_STRUCT: np.dtype("u1"),
    TID_KEY: np.dtype("u1"),
    TID_LINK: np.dtype("S1"),
    TID_INT64: np.dtype("<i8"),
    TID_UINT64: np.dtype("<u8"),
}

# Names as MIDAS writes them in XML dumps (`rpc_tid_name`); index = TID.
TID_NAMES: tuple[str, ...] = (
    "NULL", "UINT8", "INT8", "CHAR", "UINT16", "INT16", "UINT32", "INT32", "BOOL",
    "FLOAT", "DOUBLE", "BITFIELD", "STRING", "ARRAY", "STRUCT", "KEY", "LINK",
    "INT64", "UINT64",
)  # fmt: skip
# The names older MIDAS versions wrote; still accepted when reading.
TID_OLD_NAMES: tuple[str, ...] = (
    "NULL", "BYTE", "SBYTE", "CHAR", "WORD", "SHORT", "DWORD", "INT", "BOOL",
    "FLOAT", "DOUBLE", "BITFIELD", "STRING", "ARRAY", "STRUCT", "KEY", "LINK",
    "INT64", "UINT64",
)  # fmt: skip
# The words mdump prints for a bank type.
TID_TEXTS: dict[int, str] = {
    TID_UINT8: "Unsigned Byte",
    TID_INT8: "Signed Byte",
    TID_CHAR: "Char",
    TID_UINT16: "Unsigned Word",
    TID_INT16: "Signed Word",
    TID_UINT32: "Unsigned Integer",
    TID_INT32: "Signed Integer",
    TID_BOOL: "Boolean",
    TID_FLOAT: "Float",
    TID_DOUBLE: "Double",
    TID_BITFIELD: "Bitfield",
    TID_STRING: "String",
    TID_ARRAY: "Array",
    TID_STRUCT: "Struct",
    TID_KEY: "Key",
    TID_LINK: "Link",
    TID_INT64: "Signed 64-bit Integer",
    TID_UINT64: "Unsigned 64-bit Integer",
}

_TID_BY_NAME: dict[str, int] = {
    **{name: tid for tid, name in enumerate(TID_OLD_NAMES) if tid},
    **{name: tid for tid, name in enumerate(TID_NAMES) if tid},
}


def is_known_tid(tid: int) -> bool:
    """True for the TIDs a bank may carry (1..18)."""
    return tid in _DTYPES


def dtype_for_tid(tid: int) -> np.dtype:
    """The little-endian dtype of one element of a bank of type `tid`."""
    try:
        return _DTYPES[tid]
    except KeyError:
        raise MidasEncodeError(f"unknown MIDAS type id {tid}") from None


def tid_for_dtype(dtype: np.dtype | type | str) -> int:
    """The TID MIDAS uses for arrays of `dtype` (bool → TID_BOOL, bytes → TID_CHAR)."""
    dt = np.dtype(dtype)
    kind, size = dt.kind, dt.itemsize
    if kind == "b":
        return TID_BOOL
    if kind == "u" and size in (1, 2, 4, 8):
        return {1: TID_UINT8, 2: TID_UINT16, 4: TID_UINT32, 8: TID_UINT64}[size]
    if kind == "i" and size in (1, 2, 4, 8):
        return {1: TID_INT8, 2: TID_INT16, 4: TID_INT32, 8: TID_INT64}[size]
    if kind == "f" and size in (4, 8):
        return TID_FLOAT if size == 4 else TID_DOUBLE
    if kind == "S":
        return TID_CHAR
    if kind == "V":
        return TID_STRUCT
    raise MidasEncodeError(f"no MIDAS bank type for NumPy dtype {dt}")


def tid_name(tid: int) -> str:
    """The MIDAS name of a TID (e.g. 'UINT16'), as in XML dumps."""
    return TID_NAMES[tid] if 0 <= tid < TID_LAST else f"TID{tid}"


def tid_from_name(name: str) -> int:
    """The TID for a MIDAS type name, new ('UINT16') or old ('WORD') spelling."""
    try:
        return _TID_BY_NAME[name.upper()]
    except KeyError:
        raise MidasEncodeError(f"unknown MIDAS type name {name!r}") from None
