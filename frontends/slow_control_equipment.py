"""The slow-control frontend's MIDAS classes: one periodic equipment with history.

Equipment `SlowControlN` (client "Slow Control Frontend N") reads its driver every Common
`Period` (10 s by default, in any run state) and publishes the readings twice, as MIDAS's own
slow-control class drivers do (and LIME's ODB shows):
- in /Equipment/SlowControlN/Variables/Measured, a float array whose element names are
  Settings/Names: with Common "Log history" on, MIDAS's history (and its plots) picks them up;
- in a float32 bank `MSRD` of the equipment's event (event ID 30 + N), in Names order, for
  the analyzer (`cygno_mw.slow_control_banks` decodes it from the run's ODB).
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

from cygno_mw.frontends import slow_control_settings
from cygno_mw.frontends.equipment_status import GREEN, DeviceHealth
from cygno_mw.frontends.frontend_names import (
    checked_index,
    slow_control_client_name,
    slow_control_equipment_name,
    slow_control_event_id,
)
from cygno_mw.frontends.settings_validation import LiveSettings, as_list
from cygno_mw.frontends.slow_control_drivers import (
    SlowControlDriver,
    make_slow_control_driver,
    slow_control_driver_names,
)

MEASURED_BANK = "MSRD"
MEASURED_VARIABLE = "Measured"
_REOPEN_KEYS = {"Driver"}


class SlowControlEquipment(midas.frontend.EquipmentBase):
    """Periodic readout of slow-control channels into Variables/Measured and bank MSRD."""

    def __init__(self, client: Any, index: int) -> None:
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type = midas.EQ_PERIODIC
        common.event_id = slow_control_event_id(index)
        common.buffer_name = "SYSTEM"
        common.trigger_mask = 0
        common.period_ms = 10000
        common.read_when = midas.RO_ALWAYS
        common.log_history = 1
        defaults = slow_control_settings.default_settings()
        super().__init__(client, slow_control_equipment_name(index), common, defaults)
        self.live = LiveSettings(client, self.odb_settings_dir, self.name, self._validate,
                                 self._apply)
        self.config = self.live.start(self.settings, defaults)
        self.health = DeviceHealth(self, "slow-control device",
                                   retry_s=float(self.config["Retry period"]))
        self.driver: SlowControlDriver | None = None
        self.reported_channels: dict[str, str] = {}
        if self._connect():
            self.set_status(self._status_text(), GREEN)

    def _status_text(self) -> str:
        return f"Reading {len(as_list(self.config['Names']))} channels ({self.config['Driver']})"

    # ------------------------------------------------------------ settings

    def _validate(self, settings: Any) -> dict[str, str]:
        problems = slow_control_settings.validate_slow_control_settings(settings)
        if settings.get("Driver") not in slow_control_driver_names():
            problems["Driver"] = (f"{settings.get('Driver')!r} is not one of "
                                  + ", ".join(slow_control_driver_names()))
        return problems

    def _apply(self, settings: dict[str, Any], changed: set[str]) -> None:
        self.health.retry_s = float(settings["Retry period"])
        if self.driver is None:
            return
        if changed & _REOPEN_KEYS:
            replacement = make_slow_control_driver(settings)
            replacement.open()
            self.driver.close()
            self.driver = replacement
        else:
            self.driver.configure(settings, changed)

    def settings_changed_func(self) -> None:
        self.live.changed(self.settings)
        self.config = dict(self.live.accepted)

    # ------------------------------------------------------------ device

    def _connect(self) -> bool:
        try:
            driver = make_slow_control_driver(self.config)
            driver.open()
        except Exception as exc:
            self.health.failed("connection", exc)
            return False
        self.driver = driver
        self.health.recovered(self._status_text())
        return True

    def close(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.close()

    def _is_time_to_write_vars_to_odb(self) -> bool:
        return False  # Variables/Measured is written by readout_func (see module docstring)

    # ------------------------------------------------------------ readout

    def readout_func(self) -> midas.event.Event | None:
        if self.driver is None and not (self.health.retry_due() and self._connect()):
            return None
        try:
            values = self.driver.read()
        except Exception as exc:
            self.health.failed("read", exc)
            self.close()
            return None
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


class SlowControlFrontend(midas.frontend.FrontendBase):
    """MIDAS client "Slow Control Frontend N" with the equipment SlowControlN."""

    def __init__(self, index: int | None) -> None:
        index = checked_index(index)
        super().__init__(slow_control_client_name(index))
        self.slow_control = SlowControlEquipment(self.client, index)
        self.add_equipment(self.slow_control)

    def close(self) -> None:
        self.slow_control.close()
