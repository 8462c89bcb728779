"""The camera frontend's MIDAS classes: one polled equipment per camera, images as bank CAMn.

Equipment `CameraN` (client "Camera Frontend N", started with `-i N`) polls its driver while
a run is on; each frame becomes one event with a uint16 bank `CAMN` (rows x columns of the
region of interest, row-major) built with `NumpyEvent` (one copy into the send buffer).
Variables holds the camera status: Sensor temperature (deg C), Frames (images sent this
run), Drops (frames the camera made that were lost), Frame rate (Hz, last second).

Settings (camera_settings) are validated and applied live; a device failure while running is
reported (MIDAS error message, red status, internal alarm), the frontend keeps running and
reconnects every `Retry period` seconds until the device answers again.
"""

from __future__ import annotations

import time
from typing import Any

import midas
import midas.frontend

from cygno_mw.frontends.camera import drivers as camera_drivers
from cygno_mw.frontends.camera import settings as camera_settings
from cygno_mw.frontends.driver_equipment import SUCCESS, DriverEquipment, RunFrontend
from cygno_mw.frontends.frontend_names import (
    camera_bank_name,
    camera_client_name,
    camera_equipment_name,
    camera_event_id,
)
from cygno_mw.frontends.numpy_event import NumpyEvent, PackBuffer

STATUS_PERIOD_S = 1.0
_EVENT_OVERHEAD = 16 + 8 + 16  # event header, all-banks header, one bank header (max)


class CameraEquipment(DriverEquipment):
    """One sCMOS camera: polled readout of its driver into CAMn events."""

    drivers = camera_drivers.DRIVERS
    device = driver_kind = "camera"
    reopen_keys = frozenset({"Driver", "DCAM index", "Replay file", "Replay bank"})

    def __init__(self, client: Any, index: int) -> None:
        # log_history stays off: never copy a 10 MB image bank into the ODB
        super().__init__(client, camera_equipment_name(index), camera_event_id(index),
                         camera_settings.default_settings())
        self.bank_name = camera_bank_name(index)
        self.pack_buffer = PackBuffer()
        self.frames_sent = 0
        self._status_due = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self._last_status: dict[str, Any] = {}

    def _validate(self, settings: Any) -> dict[str, str]:
        return camera_settings.validate_camera_settings(settings, self.drivers.names())

    # ------------------------------------------------------------ run transitions

    def event_size(self) -> int:
        binning = int(self.config["Binning"])
        pixels = (int(self.config["ROI width"]) // binning) * (
            int(self.config["ROI height"]) // binning)
        return pixels * 2 + _EVENT_OVERHEAD

    def _run_starting(self) -> Any:
        max_event = int(self.client.odb_get("/Experiment/MAX_EVENT_SIZE"))
        if max_event < self.event_size():
            reason = (f"{self.name}: images of {self.event_size()} bytes exceed "
                      f"/Experiment/MAX_EVENT_SIZE = {max_event}; raise it (e.g. `cygno-mw "
                      "odb diff` shows the template value) or choose a smaller ROI")
            self.client.msg(reason, is_error=True)
            return midas.status_codes["FE_ERR_ODB"], reason
        self.frames_sent = 0
        self._rate_mark = (time.monotonic(), 0)
        return None

    def _run_summary(self) -> str:
        return f"{self.frames_sent} images sent, {self._last_status.get('Drops', 0)} dropped"

    def pause(self) -> None:
        if self.driver is not None:
            self.driver.stop()

    def resume(self) -> None:
        if self.driver is not None:
            self.driver.start()

    # ------------------------------------------------------------ readout

    def _device_ready(self) -> bool:
        return self.driver.frame_ready()

    def _read_device(self) -> Any:
        return self.driver.read_frame()

    def _make_event(self, frame: Any) -> NumpyEvent | None:
        if frame is None:
            return None
        if frame.dtype != "uint16":
            frame = frame.astype("uint16")
        event = NumpyEvent(pack_buffer=self.pack_buffer)
        event.create_bank(self.bank_name, midas.TID_WORD, frame)
        self.frames_sent += 1
        return event
    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._status_due:
            return
        self._status_due = now + STATUS_PERIOD_S
        try:
            status = self.driver.status() if self.driver is not None else None
        except Exception as exc:
            self._lost("status", exc)
            status = None
        since, frames_then = self._rate_mark
        rate = (self.frames_sent - frames_then) / (now - since) if now > since else 0.0
        self._rate_mark = (now, self.frames_sent)
        values = {
            "Sensor temperature": float(status.sensor_temperature) if status else float("nan"),
            "Frames": int(self.frames_sent),
            "Drops": int(status.drops) if status else int(self._last_status.get("Drops", 0)),
            "Frame rate": float(rate),
        }
        for key, value in values.items():
            self.client.odb_set(f"{self.odb_variables_dir}/{key}", value)
        self._last_status = values


class CameraFrontend(RunFrontend):
    """MIDAS client "Camera Frontend N" with the equipment CameraN."""

    def __init__(self, index: int | None) -> None:
        super().__init__(camera_client_name, CameraEquipment, index)
        self.camera = self.device_equipment

    def pause_run(self, run_number: int) -> Any:
        self.camera.pause()
        return SUCCESS

    def resume_run(self, run_number: int) -> Any:
        self.camera.resume()
        return SUCCESS
