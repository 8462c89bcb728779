"""Stand-in for `midas.event`: a MIDAS event as Python objects, packed and unpacked with the
real binary layout (16-byte event header; 8-byte all-banks header with the bank32 bit 4 and
align64 bit 5 flags; bank headers of 8, 12 or 16 bytes; bank data padded to 8 bytes).

pack() serialises bank data the way the real module does, through struct with one argument
per value; that path is correct but slow for a multi-megabyte image bank.
"""

from __future__ import annotations

import ctypes
import struct
import time
from typing import Any

import numpy as np

import midas

event_header_size = 16
all_bank_header_size = 8


class EventHeader:
    """The EVENT_HEADER: id, trigger mask, serial number, time stamp, data size."""

    def __init__(self) -> None:
        self.event_id: int | None = None
        self.trigger_mask: int | None = 0
        self.serial_number: int | None = None
        self.timestamp: int | None = None
        self.event_data_size_bytes: int | None = None

    def dump(self) -> None:
        size = self.event_data_size_bytes or 0
        print(
            f"Evid:{self.event_id:04d}- Mask:{self.trigger_mask:04d}- "
            f"Serial:{self.serial_number}- Time:0x{self.timestamp:o}- Dsize:{size}/0x{size:x}"
        )

    def is_midas_internal_event(self) -> bool:
        return self.is_bor_event() or self.is_eor_event() or self.is_msg_event()

    def is_bor_event(self) -> bool:
        return self.event_id == 0x8000

    def is_eor_event(self) -> bool:
        return self.event_id == 0x8001

    def is_msg_event(self) -> bool:
        return self.event_id == 0x8002

    def fill_from_bytes(self, header_data: bytes) -> None:
        (self.event_id, self.trigger_mask, self.serial_number, self.timestamp,
         self.event_data_size_bytes) = struct.unpack(midas.endian_format_flag + "HHIII",
                                                     header_data)

    def pack(self, buf: Any = None, buf_offset: int = 0) -> Any:
        if self.timestamp is None:
            self.timestamp = int(time.time())
        for name in ("event_id", "trigger_mask", "serial_number"):
            if getattr(self, name) is None:
                raise ValueError(f"Must set {name.replace('_', ' ')}!")
        if self.event_data_size_bytes is None:
            raise ValueError("Must set event data size!")
        if buf is None:
            buf = ctypes.create_string_buffer(event_header_size)
            buf_offset = 0
        struct.pack_into(midas.endian_format_flag + "HHIII", buf, buf_offset, self.event_id,
                         self.trigger_mask, self.serial_number, self.timestamp,
                         self.event_data_size_bytes)
        return buf


class Bank:
    """A BANK / BANK32: 4-character name, TID type, size in bytes, data."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.type: int | None = None
        self.size_bytes: int | None = None
        self.data: Any = None

    def dump(self, data_idx_start: int | None = None, data_idx_end: int | None = None) -> None:
        kind = midas.tid_texts.get(self.type, "Unknown")
        print(f"Bank:{self.name} Length: {self.size_bytes} bytes/{len(self.data)} entries "
              f"Type:{kind}")
        start = (data_idx_start or 1) - 1
        end = (data_idx_end or len(self.data) + 1) - 1
        for first in range(start, end, 8):
            values = " ".join(str(v) for v in self.data[first:min(first + 8, len(self.data))])
            print(f"{first + 1:4d}-> {values}")

    def get_expected_padding(self) -> int:
        return ((self.size_bytes + 7) & ~7) - self.size_bytes

    def get_pack_fmt(self, is_bank_32: bool, is_64bit_aligned: bool) -> str:
        fmt = midas.endian_format_flag + "cccc"
        if is_bank_32:
            fmt += "II" + ("I" if is_64bit_aligned else "")
        else:
            fmt += "HH"
        return fmt

    def fill_header_from_bytes(self, bank_header_data: bytes, is_bank_32: bool,
                               is_64bit_aligned: bool) -> None:
        fields = struct.unpack(self.get_pack_fmt(is_bank_32, is_64bit_aligned), bank_header_data)
        self.name = "".join(c.decode("ascii") for c in fields[:4])
        self.type = fields[4]
        self.size_bytes = fields[5]
        if self.type not in midas.tid_sizes:
            raise ValueError(f"Unexpected bank type {self.type} for name '{self.name}'")

    def convert_and_store_data(self, raw_data: bytes, use_numpy: bool = False) -> None:
        item = midas.tid_sizes[self.type]
        if not item:
            self.data = raw_data
            return
        count = self.size_bytes // item
        if use_numpy:
            np_type = midas.tid_np_formats[self.type]
            if np_type is None:
                self.data = raw_data
                return
            self.data = np.frombuffer(raw_data, np.dtype(np_type), count)
            if self.type == midas.TID_BOOL:
                self.data = self.data.astype(np.bool_)
            return
        fmt = midas.tid_unpack_formats[self.type]
        self.data = struct.unpack(f"{midas.endian_format_flag}{count}{fmt}", raw_data)
        if self.type == midas.TID_BOOL:
            self.data = tuple(v != 0 for v in self.data)


class Event:
    """A MIDAS-format event: header, flags and banks keyed by name."""

    def __init__(self, bank32: bool = True, align64: bool = False) -> None:
        self.header = EventHeader()
        self.all_bank_size_bytes: int | None = None
        self.flags = 1
        self._flag_32bit = 1 << 4
        self._flag_align64 = 1 << 5
        if bank32:
            self.flags |= self._flag_32bit
        if align64:
            if not bank32:
                raise ValueError("16-bit banks with 64-bit alignment are not supported")
            self.flags |= self._flag_align64
        self.banks: dict[str, Bank] = {}
        self.non_bank_data: bytes | None = None

    def dump(self, include_bank_content: bool = True) -> None:
        print("-" * 30)
        self.header.dump()
        print(f"#banks:{len(self.banks)} - Bank list:-{''.join(self.banks)}-")
        if include_bank_content:
            for bank in self.banks.values():
                print()
                bank.dump()

    def add_bank(self, bank: Bank) -> None:
        self.banks[bank.name] = bank

    def create_bank(self, bank_name: str, data_type: int, data: Any) -> None:
        if not isinstance(bank_name, str):
            raise TypeError("Bank name should be a 4-char string")
        if len(bank_name) != 4:
            raise ValueError("Bank name should be a 4-char string")
        if data_type not in midas.tid_sizes:
            raise ValueError("Unknown bank type")
        if data_type in (midas.TID_BYTE, midas.TID_CHAR):
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("Data must be a bytes() or bytearray() for TID_BYTE/TID_CHAR")
        elif midas.tid_sizes[data_type] is None:
            raise ValueError("Unsupported bank type")
        elif not isinstance(data, (list, tuple, np.ndarray)):
            raise TypeError("Data must be a list/tuple/numpy array for this data type")
        bank = Bank()
        bank.name = bank_name
        bank.type = data_type
        bank.data = data
        self.add_bank(bank)

    def get_bank(self, bank_name: str) -> Bank | None:
        return self.banks.get(bank_name)

    def bank_exists(self, bank_name: str) -> bool:
        return bank_name in self.banks

    def fill_header_from_bytes(self, bank_header_data: bytes) -> None:
        self.all_bank_size_bytes, self.flags = struct.unpack(
            midas.endian_format_flag + "II", bank_header_data
        )

    def is_bank_data_64bit_aligned(self) -> bool:
        return (self.flags & self._flag_align64) != 0

    def is_bank_32(self) -> bool:
        return (self.flags & self._flag_32bit) != 0

    def get_bank_header_size(self) -> int:
        if self.is_bank_data_64bit_aligned():
            return 16
        return 12 if self.is_bank_32() else 8

    def calculate_bank_sizes(self) -> None:
        self.all_bank_size_bytes = 0
        for bank in self.banks.values():
            # len() of the data, as the real module: a 2-D numpy array counts its rows only.
            bank.size_bytes = len(bank.data) * midas.tid_sizes[bank.type]
            self.all_bank_size_bytes += (
                bank.size_bytes + bank.get_expected_padding() + self.get_bank_header_size()
            )

    def pack(self, buf: Any = None, buf_offset: int = 0) -> Any:
        if self.all_bank_size_bytes is None:
            self.calculate_bank_sizes()
        if self.header.event_data_size_bytes is None:
            self.header.event_data_size_bytes = self.all_bank_size_bytes + all_bank_header_size
        if buf is None:
            buf = ctypes.create_string_buffer(self.header.event_data_size_bytes
                                              + event_header_size)
            buf_offset = 0
        self.header.pack(buf, buf_offset)
        buf_offset += event_header_size
        struct.pack_into(midas.endian_format_flag + "II", buf, buf_offset,
                         self.all_bank_size_bytes, self.flags)
        buf_offset += all_bank_header_size
        for bank in self.banks.values():
            fmt = bank.get_pack_fmt(self.is_bank_32(), self.is_bank_data_64bit_aligned())
            fields: list[Any] = [bank.name[i].encode("ascii") for i in range(4)]
            fields += [bank.type, bank.size_bytes]
            if self.is_bank_data_64bit_aligned():
                fields.append(0)
            struct.pack_into(fmt, buf, buf_offset, *fields)
            buf_offset += self.get_bank_header_size()
            fmt = f"{midas.endian_format_flag}{len(bank.data)}{midas.tid_unpack_formats[bank.type]}"
            data = bank.data
            if isinstance(data, np.ndarray) and data.dtype == np.bool_:
                data = [bool(x) for x in data]
            struct.pack_into(fmt, buf, buf_offset, *data)
            buf_offset += bank.size_bytes + bank.get_expected_padding()
        return buf

    def unpack(self, buf: Any, buf_offset: int = 0, use_numpy: bool = False) -> None:
        self.header.fill_from_bytes(buf[buf_offset:buf_offset + event_header_size])
        self.unpack_body(buf, buf_offset + event_header_size, use_numpy)

    def unpack_body(self, buf: Any, buf_offset: int = 0, use_numpy: bool = False) -> None:
        if self.header is None or self.header.event_data_size_bytes is None:
            raise RuntimeError("Can't unpack event body without first unpacking header")
        start = buf_offset
        if self.header.is_midas_internal_event():
            self.non_bank_data = buf[buf_offset:]
            return
        self.fill_header_from_bytes(buf[buf_offset:buf_offset + all_bank_header_size])
        buf_offset += all_bank_header_size
        while (buf_offset - start) < self.header.event_data_size_bytes - 4:
            size = self.get_bank_header_size()
            bank = Bank()
            bank.fill_header_from_bytes(buf[buf_offset:buf_offset + size], self.is_bank_32(),
                                        self.is_bank_data_64bit_aligned())
            buf_offset += size
            bank.convert_and_store_data(buf[buf_offset:buf_offset + bank.size_bytes], use_numpy)
            buf_offset += bank.size_bytes + bank.get_expected_padding()
            self.add_bank(bank)
