"""Slow-control drivers: read one float per configured channel name.

A driver is opened once, `read()` returns one value per name of Settings/Names (NaN for a
channel that cannot be read right now, listed with the reason in `channel_problems`), and
raises when the whole device is gone; the equipment then reports it and reopens the driver
later.  Drivers: `sim` (here) and `opcua` (opcua_driver, asyncua imported on use).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from cygno_mw.errors import CygnoError
from cygno_mw.frontends.driver_registry import Driver, DriverRegistry
from cygno_mw.frontends.settings_validation import as_list


class SlowControlDriverError(CygnoError):
    """The slow-control device or its library is not usable."""


class SlowControlDriver(Driver):
    """Base class; `settings` are the equipment's accepted Settings."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.channel_problems: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return [str(n) for n in as_list(self.settings["Names"])]

    def read(self) -> list[float]:
        raise NotImplementedError


class SimSlowControlDriver(SlowControlDriver):
    """LIME-like drifting readings (`cygno_mw.simulation.slowcontrol`) by channel name;
    names the simulation does not know read NaN."""

    name = "sim"

    def __init__(self, settings: Mapping[str, Any],
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings)
        self.clock = clock

    def read(self) -> list[float]:
        from cygno_mw.simulation.slowcontrol import slow_control_readings

        readings: dict[str, float] = {}
        for channels in slow_control_readings(self.clock(), seed=int(self.settings["Sim seed"])
                                              ).values():
            readings.update(channels)
        self.channel_problems = {n: "not simulated" for n in self.names if n not in readings}
        return [readings.get(name, math.nan) for name in self.names]


DRIVERS = DriverRegistry("slow-control", {
    "sim": SimSlowControlDriver,
    "opcua": "cygno_mw.frontends.slow_control.opcua_driver:OpcUaDriver",
})
slow_control_driver_names = DRIVERS.names
register_slow_control_driver = DRIVERS.register
unregister_slow_control_driver = DRIVERS.unregister
make_slow_control_driver = DRIVERS.make
