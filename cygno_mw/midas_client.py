"""Stopping a MIDAS program cleanly when the status page (or `cm_shutdown`) tells it to.

MIDAS's `MidasClient.communicate()` disconnects from the experiment and exits the process
(SystemExit 0) when the client is told to stop.  Our programs still have to write their final
statistics to the ODB and close their event requests after that point, so the client's class
is changed to one whose communicate() still ends the program with SystemExit but leaves the
disconnect to the program's own `disconnect()` at the very end.
"""

from __future__ import annotations

from typing import Any

_classes: dict[type, type] = {}


def defer_disconnect_on_stop(client: Any) -> Any:
    """Make `client` keep its connection when communicate() is told to stop; returns it."""
    base = type(client)
    if getattr(base, "_cygno_defers_disconnect", False):
        return client
    if base not in _classes:
        _classes[base] = type(f"Deferring{base.__name__}", (base,), {
            "_cygno_defers_disconnect": True,
            "communicate": _communicate,
            "disconnect": _disconnect,
        })
    client.__class__ = _classes[base]
    client.stop_requested = False
    return client


def _communicate(self: Any, time_ms: int) -> None:
    self._cygno_in_communicate = True
    try:
        super(type(self), self).communicate(time_ms)
    except SystemExit:
        self.stop_requested = True
        raise
    finally:
        self._cygno_in_communicate = False


def _disconnect(self: Any) -> None:
    """Disconnect, except from inside communicate() (MIDAS's stop: the program does it)."""
    if getattr(self, "_cygno_in_communicate", False):
        self.stop_requested = True
        return
    super(type(self), self).disconnect()
