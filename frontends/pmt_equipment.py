"""The PMT frontend's MIDAS classes: one polled equipment per digitizer crate.

Equipment `PMTN` (client "PMT Frontend N") sends, for each camera exposure the digitizers
recorded, one event (ID 20 + N) with the experiment's two banks (`cygno_mw.pmt_banks`):
`DGHN` (uint32 header: boards, models, samples, channels, triggers, offsets, time tags,
DRS4 start cells) and `DIGN` (uint16 samples).  Variables: Events (this run) and Triggers
(PMT triggers in them).  Settings in pmt_settings; device loss is handled as for the camera.
"""

from __future__ import annotations

from typing import Any

import midas
import midas.frontend

from cygno_mw.frontends import pmt_settings
from cygno_mw.frontends.equipment_status import GREEN, DeviceHealth
from cygno_mw.frontends.frontend_names import (
    checked_index,
    pmt_bank_names,
    pmt_client_name,
    pmt_equipment_name,
    pmt_event_id,
)
from cygno_mw.frontends.numpy_event import NumpyEvent
from cygno_mw.frontends.pmt_drivers import PmtDriver, make_pmt_driver, pmt_driver_names
from cygno_mw.frontends.settings_validation import LiveSettings

SUCCESS = midas.status_codes["SUCCESS"]
_REOPEN_KEYS = {"Driver"}


class PmtEquipment(midas.frontend.EquipmentBase):
    """Polled readout of the PMT digitizers into DGHn/DIGn events."""

    def __init__(self, client: Any, index: int) -> None:
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type = midas.EQ_POLLED
        common.event_id = pmt_event_id(index)
        common.buffer_name = "SYSTEM"
        common.trigger_mask = 0
        common.period_ms = 10
        common.read_when = midas.RO_RUNNING
        common.log_history = False
        defaults = pmt_settings.default_settings()
        super().__init__(client, pmt_equipment_name(index), common, defaults)
        self.header_bank, self.samples_bank = pmt_bank_names(index)
        self.live = LiveSettings(client, self.odb_settings_dir, self.name, self._validate,
                                 self._apply)
        self.config = self.live.start(self.settings, defaults)
        self.health = DeviceHealth(self, "digitizers", retry_s=float(self.config["Retry period"]))
        self.driver: PmtDriver | None = None
        self.acquiring = False
        self.events = 0
        self.triggers = 0
        if self._connect():
            self.set_status(f"Ready ({self.config['Driver']})", GREEN)

    def _validate(self, settings: Any) -> dict[str, str]:
        return pmt_settings.validate_pmt_settings(settings, pmt_driver_names())

    def _apply(self, settings: dict[str, Any], changed: set[str]) -> None:
        self.health.retry_s = float(settings["Retry period"])
        if self.driver is None:
            return
        if changed & _REOPEN_KEYS:
            replacement = make_pmt_driver(settings)
            replacement.open()
            if self.acquiring:
                replacement.start()
            self.close_driver()
            self.driver = replacement
        else:
            self.driver.configure(settings, changed)

    def settings_changed_func(self) -> None:
        self.live.changed(self.settings)
        self.config = dict(self.live.accepted)

    def _connect(self) -> bool:
        try:
            driver = make_pmt_driver(self.config)
            driver.open()
            if self.acquiring:
                driver.start()
        except Exception as exc:
            self.health.failed("open", exc)
            return False
        self.driver = driver
        self.health.recovered(f"{'Acquiring' if self.acquiring else 'Ready'} "
                              f"({self.config['Driver']})")
        return True

    def close_driver(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            try:
                driver.stop()
                driver.close()
            except Exception as exc:
                self.client.msg(f"{self.name}: closing the digitizer driver failed: {exc}", True)

    def begin_of_run(self, run_number: int) -> Any:
        self.acquiring = True
        self.events = self.triggers = 0
        if self.driver is None and not self._connect():
            self.acquiring = False
            return midas.status_codes["FE_ERR_HW"], f"{self.name}: digitizers not available"
        try:
            self.driver.start()
        except Exception as exc:
            self.health.failed("start", exc)
            self.close_driver()
            self.acquiring = False
            return midas.status_codes["FE_ERR_HW"], f"{self.name}: digitizer start failed: {exc}"
        self.set_status(f"Acquiring ({self.config['Driver']})", GREEN)
        self._publish()
        return SUCCESS

    def end_of_run(self, run_number: int) -> Any:
        self.acquiring = False
        if self.driver is not None:
            try:
                self.driver.stop()
            except Exception as exc:
                self.health.failed("stop", exc)
                self.close_driver()
            else:
                self.set_status(f"Ready ({self.config['Driver']})", GREEN)
        self._publish()
        self.client.msg(f"{self.name}: run {run_number}: {self.events} events, "
                        f"{self.triggers} PMT triggers")
        return SUCCESS

    def poll_func(self) -> bool:
        if not self.acquiring:
            return False
        if self.driver is None:
            if self.health.retry_due():
                self._connect()
            return False
        try:
            return self.driver.event_ready()
        except Exception as exc:
            self.health.failed("readout", exc)
            self.close_driver()
            return False

    def readout_func(self) -> NumpyEvent | None:
        if self.driver is None:
            return None
        from cygno_mw.pmt_banks import encode_pmt_banks

        try:
            boards = self.driver.read_event()
        except Exception as exc:
            self.health.failed("readout", exc)
            self.close_driver()
            return None
        banks = encode_pmt_banks(boards)
        event = NumpyEvent()
        event.create_bank(self.header_bank, midas.TID_DWORD, banks["DGH0"])
        event.create_bank(self.samples_bank, midas.TID_WORD, banks["DIG0"])
        self.events += 1
        self.triggers += boards[0].n_events if boards else 0
        if self.events % 10 == 1:
            self._publish()
        return event

    def _publish(self) -> None:
        self.client.odb_set(f"{self.odb_variables_dir}/Events", int(self.events))
        self.client.odb_set(f"{self.odb_variables_dir}/Triggers", int(self.triggers))


class PmtFrontend(midas.frontend.FrontendBase):
    """MIDAS client "PMT Frontend N" with the equipment PMTN."""

    def __init__(self, index: int | None) -> None:
        index = checked_index(index)
        super().__init__(pmt_client_name(index))
        self.pmt = PmtEquipment(self.client, index)
        self.add_equipment(self.pmt)

    def begin_of_run(self, run_number: int) -> Any:
        return self.pmt.begin_of_run(run_number)

    def end_of_run(self, run_number: int) -> Any:
        return self.pmt.end_of_run(run_number)

    def close(self) -> None:
        self.pmt.acquiring = False
        self.pmt.close_driver()
