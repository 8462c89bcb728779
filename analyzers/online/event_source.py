"""Events from a MIDAS event buffer, as the `DecodedEvent`s every analyzer stage takes.

The request is GET_NONBLOCKING by default (C's GET_SOME: the analyzer sees what it can and
never slows data taking) or GET_ALL when configured (the DAQ waits for us); one request per
wanted event id, or one for all.  Bank data come as NumPy views of the received event
(`receive_event(use_numpy=True)`), never copied bank by bank.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cygno_mw.analyzers.events import DecodedEvent

log = logging.getLogger(__name__)

SAMPLING_TYPES = ("GET_NONBLOCKING", "GET_ALL", "GET_RECENT")


class MalformedEventError(ValueError):
    """An event from the buffer that cannot be decoded."""


@dataclass(frozen=True)
class BufferRequest:
    """What to ask the buffer for: its name, the sampling type's name, event ids (-1 = all)."""

    buffer_name: str = "SYSTEM"
    sampling: str = "GET_NONBLOCKING"
    event_ids: tuple[int, ...] = (-1,)

    def __post_init__(self) -> None:
        name = self.sampling.strip().upper()
        if name == "GET_SOME":  # C's old name
            name = "GET_NONBLOCKING"
        if name not in SAMPLING_TYPES:
            raise ValueError(f"sampling type {self.sampling!r} is not one of {SAMPLING_TYPES}")
        object.__setattr__(self, "sampling", name)
        ids = tuple(int(i) for i in self.event_ids) or (-1,)
        object.__setattr__(self, "event_ids", (-1,) if -1 in ids else ids)

    @property
    def gets_all(self) -> bool:
        return self.sampling == "GET_ALL"


class BufferSource:
    """One client's requests on one event buffer."""

    def __init__(self, client: Any, request: BufferRequest) -> None:
        import midas

        self.client = client
        self.request = request
        self.handle = client.open_event_buffer(request.buffer_name)
        sampling = getattr(midas, request.sampling)
        self.request_ids = [
            client.register_event_request(self.handle, event_id=event_id, trigger_mask=-1,
                                          sampling_type=sampling)
            for event_id in request.event_ids
        ]

    def receive(self) -> Any | None:
        """The next event (a `midas.event.Event` with NumPy bank data), or None if none waits.

        Raises MalformedEventError for an event that could not be unpacked."""
        try:
            return self.client.receive_event(self.handle, async_flag=True, use_numpy=True)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise MalformedEventError(f"undecodable event: {exc}") from exc
        except Exception as exc:  # e.g. a truncated event (BM_TRUNCATED) from the library
            if type(exc).__name__ == "MidasError":
                raise MalformedEventError(f"event not received: {exc}") from exc
            raise

    def close(self) -> None:
        for request_id in self.request_ids:
            try:
                self.client.deregister_event_request(self.handle, request_id)
            except Exception as exc:  # closing on the way out: say it, do not mask the cause
                log.debug("deregister_event_request: %s", exc)
        self.request_ids = []


def header_of(event: Any) -> tuple[int, int, int]:
    """(event id, serial number, timestamp) of a received event."""
    header = event.header
    return int(header.event_id), int(header.serial_number), int(header.timestamp)


def decode(run: int, event: Any) -> DecodedEvent:
    """A received `midas.event.Event` as a DecodedEvent of `run` (banks as NumPy arrays)."""
    event_id, serial, timestamp = header_of(event)
    banks: dict[str, np.ndarray] = {}
    for name, bank in _banks(event):
        data = bank.data
        if isinstance(data, bytes | bytearray | memoryview):
            data = np.frombuffer(data, np.uint8)
        elif not isinstance(data, np.ndarray):
            data = np.asarray(data)
        banks[str(name)] = data
    return DecodedEvent(run=int(run), serial=serial, event_id=event_id, timestamp=timestamp,
                        banks=banks)


def _banks(event: Any) -> Iterable[tuple[str, Any]]:
    banks = getattr(event, "banks", None)
    if not isinstance(banks, dict):
        raise MalformedEventError("event has no banks")
    return banks.items()
