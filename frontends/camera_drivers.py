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

import importlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cygno_mw.errors import ConfigError, CygnoError


class CameraDriverError(CygnoError):
    """A camera driver cannot do what was asked (device absent, library missing...)."""


@dataclass(frozen=True)
class CameraStatus:
    """What the frontend publishes in Variables."""

    sensor_temperature: float = math.nan  # degrees C, NaN when unknown
    frames: int = 0  # frames the device produced since start()
    drops: int = 0  # frames it produced that were lost (overwritten, skipped)


class CameraDriver:
    """Base class of camera drivers; `settings` are the equipment's accepted Settings."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings: dict[str, Any] = dict(settings)

    def open(self) -> None:
        """Connect to the device (may take seconds)."""

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        """Use new Settings now (also while acquiring)."""
        self.settings = dict(settings)

    def start(self) -> None:
        """Begin acquiring frames."""

    def frame_ready(self) -> bool:
        """Whether read_frame() would return a frame now (must be quick)."""
        raise NotImplementedError

    def read_frame(self) -> np.ndarray | None:
        """The next frame, uint16 (rows, cols); may be a view valid until the next call."""
        raise NotImplementedError

    def stop(self) -> None:
        """End acquisition."""

    def close(self) -> None:
        """Release the device."""

    def status(self) -> CameraStatus:
        return CameraStatus()


# name -> "module:Class" (imported on first use) or a factory (tests register those)
_REGISTRY: dict[str, str | Callable[[Mapping[str, Any]], CameraDriver]] = {
    "sim": "cygno_mw.frontends.camera_sim_driver:SimCameraDriver",
    "replay": "cygno_mw.frontends.camera_replay_driver:ReplayCameraDriver",
    "dcam": "cygno_mw.frontends.camera_dcam_driver:DcamCameraDriver",
}


def camera_driver_names() -> list[str]:
    return list(_REGISTRY)


def register_camera_driver(name: str,
                           factory: str | Callable[[Mapping[str, Any]], CameraDriver]) -> None:
    """Add a driver (a "module:Class" string or a callable taking the Settings)."""
    _REGISTRY[name] = factory


def unregister_camera_driver(name: str) -> None:
    _REGISTRY.pop(name, None)


def make_camera_driver(settings: Mapping[str, Any]) -> CameraDriver:
    """A new, not yet opened driver for settings["Driver"]."""
    name = settings.get("Driver")
    entry = _REGISTRY.get(str(name))
    if entry is None:
        raise ConfigError(f"unknown camera driver {name!r} (known: {', '.join(_REGISTRY)})")
    if isinstance(entry, str):
        module_name, class_name = entry.split(":")
        return getattr(importlib.import_module(module_name), class_name)(settings)
    return entry(settings)


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


class FramePacer:
    """Frame timing of a free-running stand-in camera: `rate_hz` frames per second (0: no
    pacing), counting as drops the frames a slow reader let pass."""

    def __init__(self, rate_hz: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.dropped = 0
        self.set_rate(rate_hz)

    def set_rate(self, rate_hz: float) -> None:
        self.period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.due = self.clock() + self.period

    def restart(self) -> None:
        self.dropped = 0
        self.due = self.clock() + self.period

    def ready(self) -> bool:
        if self.period == 0.0:
            return True
        now = self.clock()
        if now < self.due:
            return False
        missed = int((now - self.due) // self.period)
        if missed:
            self.dropped += missed
            self.due += missed * self.period
        return True

    def taken(self) -> None:
        if self.period:
            self.due += self.period
