"""The event as every analyzer stage sees it, whatever its source (file, MIDAS buffer).

A source (the replay's file reader, the online analyzer's buffer client) turns what it
reads into `DecodedEvent`s: the run it was taken in, its MIDAS header fields and its
banks as NumPy arrays.  Nothing downstream knows where the event came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_CAMERA_BANK = re.compile(r"^CAM(\d)$")


@dataclass
class DecodedEvent:
    """One MIDAS event: `banks` maps bank names to their data (arrays, zero-copy views)."""

    run: int
    serial: int
    event_id: int
    timestamp: int  # MIDAS header time, UNIX seconds
    banks: Mapping[str, np.ndarray] = field(default_factory=dict)
    offset: int | None = None  # where it started in its file (None for other sources)


def camera_index(bank_name: str) -> int | None:
    """n for a camera bank `CAMn`, else None."""
    match = _CAMERA_BANK.match(bank_name)
    return None if match is None else int(match.group(1))


def camera_images(event: DecodedEvent) -> list[tuple[int, np.ndarray]]:
    """(camera, image data) for every CAMn bank of the event, by camera index."""
    found = [(camera_index(name), data) for name, data in event.banks.items()]
    return sorted(((c, np.asarray(d)) for c, d in found if c is not None), key=lambda x: x[0])


def from_midas_event(run: int, event: Any) -> DecodedEvent:
    """A `cygno_mw.midasfile.Event` (banks are `Bank` objects) as a DecodedEvent."""
    return DecodedEvent(
        run=int(run),
        serial=int(event.serial_number),
        event_id=int(event.event_id),
        timestamp=int(event.timestamp),
        banks={name: bank.data for name, bank in event.banks.items()},
        offset=event.offset,
    )
