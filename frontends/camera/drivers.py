"""What a camera driver does for the camera frontend, the driver registry, and shared helpers.

A driver owns one camera (or a stand-in for one).  The frontend calls, in order:
open() once (connect), start() at begin-of-run, then frame_ready() / read_frame() while
running, stop() at end-of-run, close() at exit; configure() applies changed Settings at any
time and status() gives sensor temperature, frames and drops for Variables.  A driver raises
any exception when its device fails; the frontend reports it and retries open() + start().

Drivers: `sim` (camera_sim_driver), `replay` (camera_replay_driver), `dcam`
(camera_dcam_driver, imported only when chosen so pylablib stays optional).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError
from cygno_mw.frontends.driver_registry import Driver, DriverRegistry


class CameraDriverError(CygnoError):
    """A camera driver cannot do what was asked (device absent, library missing...)."""


@dataclass(frozen=True)
class CameraStatus:
    """What the frontend publishes in Variables."""

    sensor_temperature: float = math.nan  # degrees C, NaN when unknown
    frames: int = 0  # frames the device produced since start()
    drops: int = 0  # frames it produced that were lost (overwritten, skipped)


class CameraDriver(Driver):
    """Base class of camera drivers."""

    def frame_ready(self) -> bool:
        """Whether read_frame() would return a frame now (must be quick)."""
        raise NotImplementedError

    def read_frame(self) -> np.ndarray | None:
        """The next frame, uint16 (rows, cols); may be a view valid until the next call."""
        raise NotImplementedError

    def status(self) -> CameraStatus:
        return CameraStatus()


DRIVERS = DriverRegistry("camera", {
    "sim": "cygno_mw.frontends.camera.sim_driver:SimCameraDriver",
    "replay": "cygno_mw.frontends.camera.replay_driver:ReplayCameraDriver",
    "dcam": "cygno_mw.frontends.camera.dcam_driver:DcamCameraDriver",
})
camera_driver_names = DRIVERS.names
register_camera_driver = DRIVERS.register
unregister_camera_driver = DRIVERS.unregister
make_camera_driver = DRIVERS.make


def apply_roi(frame: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """The region of interest of a full frame, binned: a view when Binning is 1."""
    x0, y0 = int(settings["ROI x0"]), int(settings["ROI y0"])
    width, height = int(settings["ROI width"]), int(settings["ROI height"])
    roi = frame[y0:y0 + height, x0:x0 + width]
    binning = int(settings.get("Binning", 1))
    if binning == 1:
        return roi
    summed = roi.reshape(height // binning, binning, width // binning, binning).sum(
        axis=(1, 3), dtype=np.uint32)
    return np.minimum(summed, 65535).astype(np.uint16)
