"""Which run each event from the MIDAS buffer belongs to, from transitions and the stream.

The experiment's old middleware read `/Runinfo/Run number` when it *processed* an event, so a
slow analyzer wrote the tail of run N as run N+1.  Here an event is labelled when it is
*received* from the buffer, from the order of things in the buffer itself:

- our start callback runs at sequence 300, before the frontends (500) send anything of the new
  run, so every event received after it belongs to that run;
- our stop callback runs at sequence 700, after the frontends (500) stopped sending, so every
  event still in the buffer then belongs to the run that ends: the callback receives them
  (bounded by a configurable time) and labels them before the end-of-run marker;
- when that time bound cut the drain short, the run stays "closing": an event continues it
  while its serial number (per event id) keeps growing past the last one seen in the run; a
  serial number that restarts (frontends reset serials at begin-of-run), an event id the run
  never had once the next run has begun, or an empty buffer closes it.

The tracker itself does no I/O: it turns transitions and (event id, serial) pairs into an
ordered stream of `RunBegin`, `EventItem` and `RunEnd` items for the processing thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunBegin:
    """Begin-of-run marker: the run number given to the start transition and its ODB."""

    run: int
    odb: Mapping[str, Any]


@dataclass
class RunEnd:
    """End-of-run marker; `drain_cut` when the stop callback ran out of time; `problem`
    when the run ends without all its events (the run becomes `partial`)."""

    run: int
    odb: Mapping[str, Any]
    drain_cut: bool = False
    problem: str | None = None


@dataclass
class RunPause:
    """Pause (`paused` True) or resume marker of a run."""

    run: int
    paused: bool


@dataclass
class EventItem:
    """One received event and the run it was taken in (None: between runs)."""

    run: int | None
    event: Any
    received_at: float


@dataclass
class _Closing:
    run: int
    odb: Mapping[str, Any]
    last_serial: dict[int, int] = field(default_factory=dict)


class RunTracker:
    """Labels events with their run (see the module docstring)."""

    def __init__(self) -> None:
        self.open_run: int | None = None
        self.last_run: int | None = None
        self._last_serial: dict[int, int] = {}
        self._closing: _Closing | None = None
        self._waiting: list[tuple[str, Any]] = []  # transitions that came while closing

    def begin(self, run: int, odb: Mapping[str, Any]) -> list[Any]:
        """The start transition of `run`: items to queue now."""
        marker = RunBegin(int(run), odb)
        if self._closing is not None:
            self._waiting.append(("begin", marker))  # after the closing run's end
            return []
        return self._open(marker)

    def _open(self, marker: RunBegin) -> list[Any]:
        self.open_run = marker.run
        self.last_run = marker.run
        self._last_serial = {}
        return [marker]

    def end(self, run: int, odb: Mapping[str, Any], *, drained: bool) -> list[Any]:
        """The stop transition; `drained`: the buffer was emptied within the time bound."""
        items: list[Any] = []
        if self._closing is not None:
            self._waiting.append(("end", odb))
            return items
        if self.open_run is None:
            return items
        if drained:
            items.append(RunEnd(self.open_run, odb))
        else:
            self._closing = _Closing(self.open_run, odb, dict(self._last_serial))
        self.open_run = None
        return items

    def pause(self, paused: bool) -> list[Any]:
        run = self.open_run
        return [] if run is None else [RunPause(run, paused)]

    def label(self, event_id: int, serial: int, event: Any, received_at: float) -> list[Any]:
        """Items for one received event: markers that must come first, then the event."""
        items: list[Any] = []
        closing = self._closing
        if closing is not None:
            last = closing.last_serial.get(event_id)
            continues = not self._waiting if last is None else serial > last
            if continues:
                closing.last_serial[event_id] = serial
                return [EventItem(closing.run, event, received_at)]
            items.extend(self._close())
            if self._closing is not None:  # the next run ended too: is this event its tail?
                return items + self.label(event_id, serial, event, received_at)
        if self.open_run is not None:
            previous = self._last_serial.get(event_id, -1)
            self._last_serial[event_id] = max(previous, serial)
        items.append(EventItem(self.open_run, event, received_at))
        return items

    def buffer_empty(self) -> list[Any]:
        """The buffer had nothing more: a closing run's tail has all been read."""
        return self._close() if self._closing is not None else []

    def _close(self) -> list[Any]:
        closing, self._closing = self._closing, None
        assert closing is not None
        items: list[Any] = [RunEnd(closing.run, closing.odb, drain_cut=True)]
        while self._waiting and self._closing is None:
            kind, what = self._waiting.pop(0)
            if kind == "begin":
                items.extend(self._open(what))
            else:  # that run ended too before its events were read: it is closing now
                items.extend(self.end(self.open_run or 0, what, drained=False))
        return items
