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
import midas.event
import midas.frontend

from cygno_mw.frontends import camera_settings
from cygno_mw.frontends.camera_drivers import (
    CameraDriver,
    camera_driver_names,
    make_camera_driver,
)
from cygno_mw.frontends.equipment_status import GREEN, DeviceHealth
from cygno_mw.frontends.frontend_names import (
    camera_bank_name,
    camera_client_name,
    camera_equipment_name,
    camera_event_id,
    checked_index,
)
from cygno_mw.frontends.numpy_event import NumpyEvent, PackBuffer
from cygno_mw.frontends.settings_validation import LiveSettings

SUCCESS = midas.status_codes["SUCCESS"]
STATUS_PERIOD_S = 1.0
_REOPEN_KEYS = {"Driver", "DCAM index", "Replay file", "Replay bank"}
_EVENT_OVERHEAD = 16 + 8 + 16  # event header, all-banks header, one bank header (max)


class CameraEquipment(midas.frontend.EquipmentBase):
    """One sCMOS camera: polled readout of its driver into CAMn events."""

    def __init__(self, client: Any, index: int) -> None:
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type = midas.EQ_POLLED
        common.event_id = camera_event_id(index)
        common.buffer_name = "SYSTEM"
        common.trigger_mask = 0
        common.period_ms = 10
        common.read_when = midas.RO_RUNNING
        common.log_history = False  # never copy a 10 MB image bank into the ODB
        defaults = camera_settings.default_settings()
        super().__init__(client, camera_equipment_name(index), common, defaults)
        self.bank_name = camera_bank_name(index)
        self.pack_buffer = PackBuffer()
        self.live = LiveSettings(client, self.odb_settings_dir, self.name,
                                 self._validate, self._apply)
        self.config = self.live.start(self.settings, defaults)
        self.health = DeviceHealth(self, "camera", retry_s=float(self.config["Retry period"]))
        self.driver: CameraDriver | None = None
        self.acquiring = False
        self.frames_sent = 0
        self._status_due = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self._last_status: dict[str, Any] = {}
        self._connect()
        if self.driver is not None:
            self.set_status(f"Ready ({self.config['Driver']})", GREEN)

    # ------------------------------------------------------------ settings

    def _validate(self, settings: Any) -> dict[str, str]:
        return camera_settings.validate_camera_settings(settings, camera_driver_names())

    def _apply(self, settings: dict[str, Any], changed: set[str]) -> None:
        """Make the camera use `settings` now; raise if it cannot (values are then put back)."""
        self.health.retry_s = float(settings["Retry period"])
        if self.driver is None:
            return  # device lost or never opened: the next reconnection uses the new values
        if changed & _REOPEN_KEYS:
            replacement = make_camera_driver(settings)
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

    def _connect(self) -> bool:
        """Open (and start, if running) a driver for the current Settings."""
        try:
            driver = make_camera_driver(self.config)
            driver.open()
            if self.acquiring:
                driver.start()
        except Exception as exc:
            self.health.failed("open", exc)
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
            self.client.msg(f"{self.name}: closing the camera driver failed: {exc}", True)

    def close(self) -> None:
        self.acquiring = False
        self._close_driver()

    def _status_text(self) -> str:
        return f"{'Acquiring' if self.acquiring else 'Ready'} ({self.config['Driver']})"

    # ------------------------------------------------------------ run transitions

    def event_size(self) -> int:
        binning = int(self.config["Binning"])
        pixels = (int(self.config["ROI width"]) // binning) * (
            int(self.config["ROI height"]) // binning)
        return pixels * 2 + _EVENT_OVERHEAD

    def begin_of_run(self, run_number: int) -> Any:
        max_event = int(self.client.odb_get("/Experiment/MAX_EVENT_SIZE"))
        if max_event < self.event_size():
            reason = (f"{self.name}: images of {self.event_size()} bytes exceed "
                      f"/Experiment/MAX_EVENT_SIZE = {max_event}; raise it (e.g. `cygno-mw "
                      "odb diff` shows the template value) or choose a smaller ROI")
            self.client.msg(reason, is_error=True)
            return midas.status_codes["FE_ERR_ODB"], reason
        self.acquiring = True
        self.frames_sent = 0
        if self.driver is None and not self._connect():
            self.acquiring = False
            return midas.status_codes["FE_ERR_HW"], f"{self.name}: camera not available"
        try:
            self.driver.start()
        except Exception as exc:
            self._lost("start", exc)
            self.acquiring = False
            return midas.status_codes["FE_ERR_HW"], f"{self.name}: camera start failed: {exc}"
        self.set_status(self._status_text(), GREEN)
        self._rate_mark = (time.monotonic(), 0)
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
        drops = self._last_status.get("Drops", 0)
        self.client.msg(f"{self.name}: run {run_number}: {self.frames_sent} images sent, "
                        f"{drops} dropped")
        if self.driver is not None:
            self.set_status(self._status_text(), GREEN)
        return SUCCESS

    def pause(self) -> None:
        if self.driver is not None:
            self.driver.stop()

    def resume(self) -> None:
        if self.driver is not None:
            self.driver.start()

    # ------------------------------------------------------------ readout

    def poll_func(self) -> bool:
        if not self.acquiring:
            return False
        if self.driver is None:
            if self.health.retry_due():
                self._connect()
            return False
        try:
            ready = self.driver.frame_ready()
        except Exception as exc:
            self._lost("readout", exc)
            return False
        self._publish_status()
        return ready

    def readout_func(self) -> NumpyEvent | None:
        if self.driver is None:
            return None
        try:
            frame = self.driver.read_frame()
        except Exception as exc:
            self._lost("readout", exc)
            return None
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


class CameraFrontend(midas.frontend.FrontendBase):
    """MIDAS client "Camera Frontend N" with the equipment CameraN."""

    def __init__(self, index: int | None) -> None:
        index = checked_index(index)
        super().__init__(camera_client_name(index))
        self.camera = CameraEquipment(self.client, index)
        self.add_equipment(self.camera)

    def begin_of_run(self, run_number: int) -> Any:
        return self.camera.begin_of_run(run_number)

    def end_of_run(self, run_number: int) -> Any:
        return self.camera.end_of_run(run_number)

    def pause_run(self, run_number: int) -> Any:
        self.camera.pause()
        return SUCCESS

    def resume_run(self, run_number: int) -> Any:
        self.camera.resume()
        return SUCCESS

    def close(self) -> None:
        self.camera.close()
