"""The PMT frontend's MIDAS classes: one polled equipment per digitizer crate.

Equipment `PMTN` (client "PMT Frontend N") sends, for each camera exposure the digitizers
recorded, one event (ID 20 + N) with the experiment's two banks (`cygno_mw.banks.pmt`):
`DGHN` (uint32 header: boards, models, samples, channels, triggers, offsets, time tags,
DRS4 start cells) and `DIGN` (uint16 samples).  Variables: Events (this run) and Triggers
(PMT triggers in them).  Settings in pmt_settings; device loss is handled as for the camera.
"""

from __future__ import annotations

from typing import Any

import midas
import midas.frontend

from cygno_mw.frontends.driver_equipment import DriverEquipment, RunFrontend
from cygno_mw.frontends.frontend_names import (
    pmt_bank_names,
    pmt_client_name,
    pmt_equipment_name,
    pmt_event_id,
)
from cygno_mw.frontends.numpy_event import NumpyEvent
from cygno_mw.frontends.pmt import drivers as pmt_drivers
from cygno_mw.frontends.pmt import settings as pmt_settings


class PmtEquipment(DriverEquipment):
    """Polled readout of the PMT digitizers into DGHn/DIGn events."""

    drivers = pmt_drivers.DRIVERS
    device = "digitizers"
    driver_kind = "digitizer"

    def __init__(self, client: Any, index: int) -> None:
        super().__init__(client, pmt_equipment_name(index), pmt_event_id(index),
                         pmt_settings.default_settings())
        self.header_bank, self.samples_bank = pmt_bank_names(index)
        self.events = 0
        self.triggers = 0

    def _validate(self, settings: Any) -> dict[str, str]:
        return pmt_settings.validate_pmt_settings(settings, self.drivers.names())

    def _run_starting(self) -> Any:
        self.events = self.triggers = 0
        return None

    def _run_summary(self) -> str:
        return f"{self.events} events, {self.triggers} PMT triggers"

    def _device_ready(self) -> bool:
        return self.driver.event_ready()

    def _read_device(self) -> Any:
        return self.driver.read_event()

    def _make_event(self, boards: Any) -> NumpyEvent:
        from cygno_mw.banks.pmt import encode_pmt_banks

        banks = encode_pmt_banks(boards)
        event = NumpyEvent()
        event.create_bank(self.header_bank, midas.TID_DWORD, banks["DGH0"])
        event.create_bank(self.samples_bank, midas.TID_WORD, banks["DIG0"])
        self.events += 1
        self.triggers += boards[0].n_events if boards else 0
        self._publish_status(force=self.events % 10 == 1)
        return event

    def _publish_status(self, force: bool = False) -> None:
        if force:  # Events and Triggers: at run start and end, and every 10 events
            self.client.odb_set(f"{self.odb_variables_dir}/Events", int(self.events))
            self.client.odb_set(f"{self.odb_variables_dir}/Triggers", int(self.triggers))


class PmtFrontend(RunFrontend):
    """MIDAS client "PMT Frontend N" with the equipment PMTN."""

    def __init__(self, index: int | None) -> None:
        super().__init__(pmt_client_name, PmtEquipment, index)
        self.pmt = self.device_equipment
