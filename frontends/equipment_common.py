"""`/Equipment/<name>/Common` made whole where something other than a frontend created it.

mlogger, at its start and at every begin of run, creates `Common/Log history` for each
equipment it finds (for instance right after `cygno-mw odb install` wrote its Settings).
MIDAS's `EquipmentBase` writes Common only when the folder does not exist, so it then never
fills in the rest and the frontend dies at its first start (KeyError 'Buffer').
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections import OrderedDict
from typing import Any

# the keys MIDAS's EquipmentBase writes, in its order and with its types
COMMON_KEYS = ("Event ID", "Trigger mask", "Buffer", "Type", "Source", "Format", "Enabled",
               "Read on", "Period", "Event limit", "Num subevents", "Log history",
               "Frontend host", "Frontend name", "Frontend file name", "Status",
               "Status color", "Hidden", "Write cache size")


def full_common(frontend_name: str, initial: Any) -> OrderedDict[str, Any]:
    """Common as EquipmentBase would create it from `initial` (InitialEquipmentCommon)."""
    def text(value: str, size: int) -> Any:
        return ctypes.create_string_buffer(value.encode()[:size - 1], size)

    return OrderedDict([
        ("Event ID", ctypes.c_ushort(initial.event_id)),
        ("Trigger mask", ctypes.c_ushort(initial.trigger_mask)),
        ("Buffer", text(initial.buffer_name, 32)),
        ("Type", ctypes.c_int32(initial.equip_type)),
        ("Source", ctypes.c_int32(0)),
        ("Format", text("MIDAS", 8)),
        ("Enabled", True),
        ("Read on", ctypes.c_int32(initial.read_when)),
        ("Period", ctypes.c_int32(initial.period_ms)),
        ("Event limit", ctypes.c_double(0)),
        ("Num subevents", ctypes.c_uint32(0)),
        ("Log history", ctypes.c_int32(int(initial.log_history))),
        ("Frontend host", text(socket.gethostname(), 32)),
        ("Frontend name", text(frontend_name, 32)),
        ("Frontend file name", text(os.path.basename(sys.argv[0]), 256)),
        ("Status", text("", 256)),
        ("Status color", text("", 32)),
        ("Hidden", False),
        ("Write cache size", ctypes.c_int32(100000)),
    ])


def complete_common(client: Any, equipment: str, initial: Any) -> bool:
    """Write a full Common over an incomplete one (values of a never-started equipment);
    True if it did.  A missing Common is left to EquipmentBase, a complete one untouched."""
    path = f"/Equipment/{equipment}/Common"
    if not client.odb_exists(path):
        return False
    present = client.odb_get(path)
    if isinstance(present, dict) and all(key in present for key in COMMON_KEYS):
        return False
    client.odb_set(path, full_common(str(client.name), initial), remove_unspecified_keys=False)
    return True
