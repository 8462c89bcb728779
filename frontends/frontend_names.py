"""Client names, equipment names, event ids and bank names of our frontends, by index.

The /Programs/<client name> templates in odb_templates/ must use the same names: MIDAS
matches a program entry to the running client by that name.
"""

from __future__ import annotations

from cygno_mw.errors import UsageError

MAX_INDEX = 9  # bank names are 4 characters: CAM0..CAM9, DGH0..DGH9


def checked_index(index: int | None) -> int:
    """The frontend index from `-i` (MIDAS gives -1 when absent, meaning 0)."""
    value = 0 if index is None or index < 0 else int(index)
    if value > MAX_INDEX:
        raise UsageError(f"frontend index {value} is above {MAX_INDEX} (bank names have 4 chars)")
    return value


def camera_client_name(index: int) -> str:
    return f"Camera Frontend {index}"


def camera_equipment_name(index: int) -> str:
    return f"Camera{index}"


def camera_event_id(index: int) -> int:
    return 10 + index


def camera_bank_name(index: int) -> str:
    return f"CAM{index}"


def slow_control_client_name(index: int) -> str:
    return f"Slow Control Frontend {index}"


def slow_control_equipment_name(index: int) -> str:
    return f"SlowControl{index}"


def slow_control_event_id(index: int) -> int:
    return 30 + index


def pmt_client_name(index: int) -> str:
    return f"PMT Frontend {index}"


def pmt_equipment_name(index: int) -> str:
    return f"PMT{index}"


def pmt_event_id(index: int) -> int:
    return 20 + index


def pmt_bank_names(index: int) -> tuple[str, str]:
    return f"DGH{index}", f"DIG{index}"
