"""The device lifecycle every frontend equipment shares: one driver behind a MIDAS equipment.

Settings are validated and applied live (`LiveSettings`): a change of a `reopen_keys` key
opens a new driver (started if acquiring) before the old one is closed, any other change goes
to the driver's configure().  A device failure is reported by `DeviceHealth` (MIDAS error
message, red status, internal alarm) and the driver dropped; the equipment keeps running and
reopens it every `Retry period` seconds until the device answers again.

A subclass supplies its driver registry (`drivers`), the device's name in messages, how it
validates Settings (`_validate`), how it reads the device (`_device_ready`, `_read_device`)
and builds its event (`_make_event`), and what it publishes (`_publish_status`, `_run_summary`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import midas
import midas.frontend

from cygno_mw.frontends.driver_registry import DriverRegistry
from cygno_mw.frontends.equipment_common import complete_common
from cygno_mw.frontends.equipment_status import GREEN, DeviceHealth
from cygno_mw.frontends.frontend_names import checked_index
from cygno_mw.frontends.settings_validation import LiveSettings

SUCCESS = midas.status_codes["SUCCESS"]


class DriverEquipment(midas.frontend.EquipmentBase):
    """A MIDAS equipment reading one device through a driver from `drivers`."""

    drivers: ClassVar[DriverRegistry]
    device: ClassVar[str] = ""  # in health messages and "... not available"
    driver_kind: ClassVar[str] = ""  # in "... start failed" and "closing the ... driver"
    reopen_keys: ClassVar[frozenset[str]] = frozenset({"Driver"})
    open_action: ClassVar[str] = "open"
    read_action: ClassVar[str] = "readout"

    def __init__(self, client: Any, name: str, event_id: int, defaults: Any,
                 **common: Any) -> None:
        initial = midas.frontend.InitialEquipmentCommon()
        values = {"equip_type": midas.EQ_POLLED, "event_id": event_id, "buffer_name": "SYSTEM",
                  "trigger_mask": 0, "period_ms": 10, "read_when": midas.RO_RUNNING,
                  "log_history": False}
        for key, value in {**values, **common}.items():
            setattr(initial, key, value)
        complete_common(client, name, initial)  # mlogger may have made a partial one
        super().__init__(client, name, initial, defaults)
        self.live = LiveSettings(client, self.odb_settings_dir, self.name, self._validate,
                                 self._apply)
        self.config = self.live.start(self.settings, defaults)
        self.health = DeviceHealth(self, self.device, retry_s=float(self.config["Retry period"]))
        self.driver: Any = None
        self.acquiring = False
        if self._connect():
            self.set_status(self._status_text(), GREEN)

    # ------------------------------------------------------------ settings

    def _validate(self, settings: Any) -> dict[str, str]:
        raise NotImplementedError

    def _apply(self, settings: dict[str, Any], changed: set[str]) -> None:
        """Make the device use `settings` now; raise if it cannot (values are then put back)."""
        self.health.retry_s = float(settings["Retry period"])
        if self.driver is None:
            return  # device lost or never opened: the next reconnection uses the new values
        if changed & self.reopen_keys:
            replacement = self.drivers.make(settings)
            replacement.open()
            if self.acquiring:
                replacement.start()
            self._close_driver()
            self.driver = replacement
        else:
            self.driver.configure(settings, changed)

    def settings_changed_func(self) -> None:
        self.live.changed(self.settings)
        self.config = dict(self.live.accepted)

    # ------------------------------------------------------------ device

    def _status_text(self) -> str:
        return f"{'Acquiring' if self.acquiring else 'Ready'} ({self.config['Driver']})"

    def _connect(self) -> bool:
        """Open (and start, if running) a driver for the current Settings."""
        try:
            driver = self.drivers.make(self.config)
            driver.open()
            if self.acquiring:
                driver.start()
        except Exception as exc:
            self.health.failed(self.open_action, exc)
            return False
        self.driver = driver
        self.health.recovered(self._status_text())
        return True

    def _lost(self, action: str, exc: BaseException) -> None:
        self.health.failed(action, exc)
        self._close_driver()

    def _close_driver(self) -> None:
        driver, self.driver = self.driver, None
        if driver is None:
            return
        try:
            driver.stop()
            driver.close()
        except Exception as exc:
            self.client.msg(f"{self.name}: closing the {self.driver_kind} driver failed: {exc}",
                            True)

    def close(self) -> None:
        self.acquiring = False
        self._close_driver()

    # ------------------------------------------------------------ run transitions

    def _run_starting(self) -> Any:
        """Checks and counter resets before a run starts; an error (status, reason) stops it."""
        return None

    def _run_summary(self) -> str:
        return ""

    def _publish_status(self, force: bool = False) -> None:
        """Write Variables (at most every so often unless `force`)."""

    def begin_of_run(self, run_number: int) -> Any:
        error = self._run_starting()
        if error is not None:
            return error
        self.acquiring = True
        if self.driver is None and not self._connect():
            self.acquiring = False
            return midas.status_codes["FE_ERR_HW"], f"{self.name}: {self.device} not available"
        try:
            self.driver.start()
        except Exception as exc:
            self._lost("start", exc)
            self.acquiring = False
            return (midas.status_codes["FE_ERR_HW"],
                    f"{self.name}: {self.driver_kind} start failed: {exc}")
        self.set_status(self._status_text(), GREEN)
        self._publish_status(force=True)
        return SUCCESS

    def end_of_run(self, run_number: int) -> Any:
        self.acquiring = False
        if self.driver is not None:
            try:
                self.driver.stop()
            except Exception as exc:
                self._lost("stop", exc)
        self._publish_status(force=True)
        self.client.msg(f"{self.name}: run {run_number}: {self._run_summary()}")
        if self.driver is not None:
            self.set_status(self._status_text(), GREEN)
        return SUCCESS

    # ------------------------------------------------------------ readout

    def _device_ready(self) -> bool:
        raise NotImplementedError

    def _read_device(self) -> Any:
        raise NotImplementedError

    def _make_event(self, data: Any) -> Any:
        raise NotImplementedError

    def poll_func(self) -> bool:
        if not self.acquiring:
            return False
        if self.driver is None:
            if self.health.retry_due():
                self._connect()
            return False
        try:
            ready = self._device_ready()
        except Exception as exc:
            self._lost(self.read_action, exc)
            return False
        self._publish_status()
        return ready

    def readout_func(self) -> Any:
        if self.driver is None:
            return None
        try:
            data = self._read_device()
        except Exception as exc:
            self._lost(self.read_action, exc)
            return None
        return self._make_event(data)


class DriverFrontend(midas.frontend.FrontendBase):
    """A MIDAS client running one DriverEquipment (`device_equipment`), closed with the client."""

    def __init__(self, client_name: Callable[[int], str],
                 equipment_class: Callable[[Any, int], DriverEquipment], index: int | None) -> None:
        index = checked_index(index)
        super().__init__(client_name(index))
        self.device_equipment = equipment_class(self.client, index)
        self.add_equipment(self.device_equipment)

    def close(self) -> None:
        """Close the device and write the equipment's final Statistics (still connected)."""
        try:
            self.device_equipment.close()
        finally:
            self.device_equipment._update_statistics_in_odb()


class RunFrontend(DriverFrontend):
    """A DriverFrontend whose equipment starts and stops with the runs."""

    def begin_of_run(self, run_number: int) -> Any:
        return self.device_equipment.begin_of_run(run_number)

    def end_of_run(self, run_number: int) -> Any:
        """Stop the device, then write the run's final Statistics (`Events sent`) at once:
        the end-of-run ODB then holds the run's event count as the DAQ knows it (the
        analyzer and mlogger read it there; the periodic update may be 3 s old)."""
        try:
            return self.device_equipment.end_of_run(run_number)
        finally:
            self.device_equipment._update_statistics_in_odb()
