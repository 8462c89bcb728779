"""The `sim` camera driver: simulated ORCA-Fusion images from `cygno_mw.simulation`.

Images take ~0.1 s each to simulate, more than the frame period at high rates, so the driver
simulates `Sim pool` distinct images when it opens (and when a simulation setting changes)
and serves them in turn at `Frame rate`, as a free-running camera would: frames the frontend
did not read in time count as drops.  The region of interest and binning are applied to each
served frame (a view of the stored image when Binning is 1: no copy).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from cygno_mw.frontends.camera.drivers import CameraDriver, CameraStatus, apply_roi
from cygno_mw.frontends.frame_pacer import FramePacer

SENSOR_TEMPERATURE_C = -8.0  # ORCA-Fusion, air cooled
_SIMULATION_KEYS = {"Sim mix", "Sim seed", "Sim pool", "Exposure"}


@functools.lru_cache(maxsize=2)
def _sensor(seed: int) -> Any:
    """Sensor maps take a while to generate: reopening with the same seed reuses them."""
    from cygno_mw.simulation.sensor import SensorModel

    return SensorModel.generate(seed)


class SimCameraDriver(CameraDriver):
    name = "sim"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.pool: list[np.ndarray] = []
        self.truth: list[list[Any]] = []
        self.served = 0
        self.pacer = FramePacer(float(self.settings["Frame rate"]))

    def open(self) -> None:
        self._simulate_pool()

    def _simulate_pool(self) -> None:
        from cygno_mw.simulation.camera import CameraSimulator
        from cygno_mw.simulation.signals import SignalMix

        seed = int(self.settings["Sim seed"])
        simulator = CameraSimulator(_sensor(seed),
                                    mix=SignalMix.parse(self.settings["Sim mix"]), seed=seed,
                                    exposure=float(self.settings["Exposure"]))
        images = [simulator.image() for _ in range(int(self.settings["Sim pool"]))]
        self.pool = [image for image, _ in images]
        self.truth = [truth for _, truth in images]

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        super().configure(settings, changed)
        if changed & _SIMULATION_KEYS and self.pool:
            self._simulate_pool()
        if "Frame rate" in changed:
            self.pacer.set_rate(float(self.settings["Frame rate"]))

    def start(self) -> None:
        self.served = 0
        self.pacer.restart()

    def frame_ready(self) -> bool:
        return bool(self.pool) and self.pacer.ready()

    def read_frame(self) -> np.ndarray | None:
        if not self.pool:
            return None
        image = self.pool[self.served % len(self.pool)]
        self.served += 1
        self.pacer.taken()
        return apply_roi(image, self.settings)

    def status(self) -> CameraStatus:
        return CameraStatus(SENSOR_TEMPERATURE_C, self.served + self.pacer.dropped,
                            self.pacer.dropped)
