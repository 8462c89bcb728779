"""The `dcam` camera driver: Hamamatsu ORCA cameras through pylablib's DCAM support.

pylablib is optional (`pip install 'cygno-mw[dcam]'`) and imported only when this driver
opens; it needs Hamamatsu's DCAM-API runtime (dcamapi) and a connected camera.  Each missing
piece gives a CameraDriverError that says which one.  Frames come from pylablib's ring buffer
(`read_oldest_image`); its skipped-frame count is reported as drops.  Exposure and trigger
changes apply at once; ROI / binning changes restart the acquisition.  In `software` trigger
mode the driver fires one software trigger whenever no frame is waiting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cygno_mw.frontends.camera.drivers import CameraDriver, CameraDriverError, CameraStatus

RING_BUFFER_FRAMES = 32
_TRIGGER_SOURCES = {"internal": "int", "external": "ext", "software": "software"}
_GEOMETRY_KEYS = {"ROI x0", "ROI y0", "ROI width", "ROI height", "Binning"}


def load_pylablib_dcam() -> Any:
    """pylablib's DCAM module, or CameraDriverError saying how to get it."""
    try:
        from pylablib.devices import DCAM
    except ImportError as exc:
        raise CameraDriverError(
            "the dcam camera driver needs pylablib: pip install 'cygno-mw[dcam]' "
            f"(or pip install pylablib), plus Hamamatsu's DCAM-API runtime ({exc})"
        ) from exc
    return DCAM


class DcamCameraDriver(CameraDriver):
    name = "dcam"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.camera: Any = None
        self.acquiring = False
        self.trigger_sent = False

    def open(self) -> None:
        dcam = load_pylablib_dcam()
        index = int(self.settings["DCAM index"])
        try:
            count = dcam.get_cameras_number()
        except Exception as exc:  # missing dcamapi library, driver not loaded...
            raise CameraDriverError(f"DCAM-API runtime not usable: {exc}") from exc
        if index >= count:
            raise CameraDriverError(
                f"no Hamamatsu camera with DCAM index {index} ({count} camera(s) found)")
        self.camera = dcam.DCAMCamera(idx=index)
        self._apply_all()

    def _apply_all(self) -> None:
        cam = self.camera
        cam.set_trigger_mode(_TRIGGER_SOURCES[self.settings["Trigger mode"]])
        cam.set_exposure(float(self.settings["Exposure"]))
        x0, y0 = int(self.settings["ROI x0"]), int(self.settings["ROI y0"])
        binning = int(self.settings["Binning"])
        cam.set_roi(x0, x0 + int(self.settings["ROI width"]), y0,
                    y0 + int(self.settings["ROI height"]), binning, binning)

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        super().configure(settings, changed)
        if self.camera is None:
            return
        restart = self.acquiring and bool(changed & (_GEOMETRY_KEYS | {"Trigger mode"}))
        if restart:
            self.camera.stop_acquisition()
        self._apply_all()
        if restart:
            self.start()

    def start(self) -> None:
        self._require_camera()
        self.camera.setup_acquisition(mode="sequence", nframes=RING_BUFFER_FRAMES)
        self.camera.start_acquisition()
        self.acquiring = True

    def frame_ready(self) -> bool:
        self._require_camera()
        if self.camera.get_new_images_range() is not None:
            return True
        if self.settings["Trigger mode"] == "software" and not self.trigger_sent:
            self.camera.send_software_trigger()  # one exposure per frame read out
            self.trigger_sent = True
        return False

    def read_frame(self) -> np.ndarray | None:
        self._require_camera()
        self.trigger_sent = False
        return self.camera.read_oldest_image()

    def stop(self) -> None:
        if self.camera is not None and self.acquiring:
            self.camera.stop_acquisition()
        self.acquiring = False

    def close(self) -> None:
        if self.camera is not None:
            try:
                self.stop()
            finally:
                self.camera.close()
                self.camera = None

    def status(self) -> CameraStatus:
        if self.camera is None:
            return CameraStatus()
        temperature = self.camera.get_value("SENSOR TEMPERATURE", error_on_missing=False,
                                            default=math.nan)
        frames = self.camera.get_frames_status()
        return CameraStatus(float(temperature), int(frames.acquired), int(frames.skipped))

    def _require_camera(self) -> None:
        if self.camera is None:
            raise CameraDriverError("the DCAM camera is not open")
