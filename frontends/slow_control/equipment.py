"""The slow-control frontend's MIDAS classes: one periodic equipment with history.

Equipment `SlowControlN` (client "Slow Control Frontend N") reads its driver every Common
`Period` (10 s by default, in any run state) and publishes the readings twice, as MIDAS's own
slow-control class drivers do (and LIME's ODB shows):
- in /Equipment/SlowControlN/Variables/Measured, a float array whose element names are
  Settings/Names: with Common "Log history" on, MIDAS's history (and its plots) picks them up;
- in a float32 bank `MSRD` of the equipment's event (event ID 30 + N), in Names order, for
  the analyzer (`cygno_mw.banks.slow_control` decodes it from the run's ODB).
The Python framework would also copy every bank into Variables/<bank name> when Log history
is on; that copy is switched off here (`_is_time_to_write_vars_to_odb`) so that history holds
each channel once, under its name.
"""

from __future__ import annotations

import ctypes
from typing import Any

import midas
import midas.event
import midas.frontend

from cygno_mw.frontends.driver_equipment import DriverEquipment, DriverFrontend
from cygno_mw.frontends.frontend_names import (
    slow_control_client_name,
    slow_control_equipment_name,
    slow_control_event_id,
)
from cygno_mw.frontends.settings_validation import as_list
from cygno_mw.frontends.slow_control import drivers as slow_control_drivers
from cygno_mw.frontends.slow_control import settings as slow_control_settings

MEASURED_BANK = "MSRD"
MEASURED_VARIABLE = "Measured"


class SlowControlEquipment(DriverEquipment):
    """Periodic readout of slow-control channels into Variables/Measured and bank MSRD."""

    drivers = slow_control_drivers.DRIVERS
    device = "slow-control device"
    open_action = "connection"
    read_action = "read"

    def __init__(self, client: Any, index: int) -> None:
        super().__init__(client, slow_control_equipment_name(index),
                         slow_control_event_id(index), slow_control_settings.default_settings(),
                         equip_type=midas.EQ_PERIODIC, period_ms=10000,
                         read_when=midas.RO_ALWAYS, log_history=1)
        self.reported_channels: dict[str, str] = {}

    def _status_text(self) -> str:
        return f"Reading {len(as_list(self.config['Names']))} channels ({self.config['Driver']})"

    def _validate(self, settings: Any) -> dict[str, str]:
        problems = slow_control_settings.validate_slow_control_settings(settings)
        if settings.get("Driver") not in self.drivers.names():
            problems["Driver"] = (f"{settings.get('Driver')!r} is not one of "
                                  + ", ".join(self.drivers.names()))
        return problems

    def _close_driver(self) -> None:  # a slow-control driver is only opened and closed
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.close()

    def _is_time_to_write_vars_to_odb(self) -> bool:
        return False  # Variables/Measured is written by readout_func (see module docstring)

    # ------------------------------------------------------------ readout

    def readout_func(self) -> midas.event.Event | None:
        if self.driver is None and not (self.health.retry_due() and self._connect()):
            return None
        return super().readout_func()

    def _read_device(self) -> list[float]:
        return self.driver.read()

    def _make_event(self, values: list[float]) -> midas.event.Event:
        self._report_channels(self.driver.channel_problems)
        floats = [float(v) for v in values]
        self.client.odb_set(f"{self.odb_variables_dir}/{MEASURED_VARIABLE}",
                            (ctypes.c_float * len(floats))(*floats))
        event = midas.event.Event()
        event.create_bank(MEASURED_BANK, midas.TID_FLOAT, floats)
        return event

    def _report_channels(self, problems: dict[str, str]) -> None:
        """One error message when a channel goes bad, one note when it reads again."""
        for name, why in problems.items():
            if self.reported_channels.get(name) != why:
                self.client.msg(f"{self.name}: channel {name} cannot be read ({why})", True)
        for name in set(self.reported_channels) - set(problems):
            self.client.msg(f"{self.name}: channel {name} reads again")
        self.reported_channels = dict(problems)


class SlowControlFrontend(DriverFrontend):
    """MIDAS client "Slow Control Frontend N" with the equipment SlowControlN."""

    def __init__(self, index: int | None) -> None:
        super().__init__(slow_control_client_name, SlowControlEquipment, index)
        self.slow_control = self.device_equipment
