"""The `replay` camera driver: serves the images of an existing MIDAS file as camera frames.

Frames are the `Replay bank` (default CAM0) of the file's events, in file order, at `Frame
rate` (0: as fast as read out), starting again at the end when `Replay loop` is on.  A bank of
2304 x 2304 values is a full frame and gets the ROI / binning Settings; other square banks are
served as they are.  Bank data are zero-copy views into the reader's event buffer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from cygno_mw.frontends.camera.drivers import (
    CameraDriver,
    CameraDriverError,
    CameraStatus,
    apply_roi,
)
from cygno_mw.frontends.camera.settings import SENSOR_COLS, SENSOR_ROWS
from cygno_mw.frontends.frame_pacer import FramePacer


def frame_from_bank(data: np.ndarray) -> np.ndarray:
    """A bank's values as a (rows, cols) image: square when the count is a square."""
    flat = np.asarray(data).reshape(-1)
    side = math.isqrt(flat.size)
    if side * side == flat.size:
        return flat.reshape(side, side)
    return flat.reshape(1, -1)


class ReplayCameraDriver(CameraDriver):
    name = "replay"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.file: Any = None
        self._events: Iterator[Any] | None = None
        self.pacer = FramePacer(float(self.settings["Frame rate"]))
        self.served = 0
        self.exhausted = False
        self._found_any = False

    def open(self) -> None:
        from cygno_mw.midasfile.reader import open_midas

        path = str(self.settings["Replay file"])
        try:
            self.file = open_midas(path)
        except Exception as exc:
            raise CameraDriverError(f"cannot open replay file {path!r}: {exc}") from exc
        self._rewind()

    def _rewind(self) -> None:
        self._events = iter(self.file.events(banks=[self.settings["Replay bank"]]))

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        super().configure(settings, changed)
        if "Frame rate" in changed:
            self.pacer.set_rate(float(self.settings["Frame rate"]))
        if "Replay loop" in changed:
            self.exhausted = False

    def start(self) -> None:
        self.served = 0
        self.exhausted = False
        self.pacer.restart()

    def frame_ready(self) -> bool:
        return self.file is not None and not self.exhausted and self.pacer.ready()

    def read_frame(self) -> np.ndarray | None:
        bank_name = self.settings["Replay bank"]
        restarted = False
        while True:
            event = next(self._events, None) if self._events is not None else None
            if event is None:
                if restarted or not self._found_any:
                    raise CameraDriverError(
                        f"replay file {self.settings['Replay file']!r} has no bank {bank_name}")
                if not self.settings["Replay loop"]:
                    self.exhausted = True
                    return None
                self._rewind()
                restarted = True
                continue
            bank = event.banks.get(bank_name)
            if bank is not None:
                break
        self._found_any = True
        self.served += 1
        self.pacer.taken()
        frame = frame_from_bank(bank.data)
        if frame.shape == (SENSOR_ROWS, SENSOR_COLS):
            return apply_roi(frame, self.settings)
        return frame

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file = None
        self._events = None

    def status(self) -> CameraStatus:
        return CameraStatus(math.nan, self.served + self.pacer.dropped, self.pacer.dropped)
