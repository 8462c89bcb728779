"""PMT digitizer drivers: each event is the DGH0/DIG0 content of one camera exposure.

A driver is opened once, started at begin-of-run, says when an event is ready (`event_ready`,
quick) and returns it as the boards of that exposure (`read_event`, a list of
`cygno_mw.pmt_banks.BoardData`); it raises when the digitizers are gone.  The only driver so
far is `sim`: waveforms from `cygno_mw.simulation.pmt` for the signals of a simulated camera
exposure, on the fast V1742 (DRS4) and / or the slow V1720 board, at `Trigger rate`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cygno_mw.errors import ConfigError
from cygno_mw.frontends.camera_drivers import FramePacer


class PmtDriver:
    name: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings: dict[str, Any] = dict(settings)

    def open(self) -> None:
        """Connect to the digitizers."""

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        self.settings = dict(settings)

    def start(self) -> None:
        """Arm the digitizers."""

    def event_ready(self) -> bool:
        raise NotImplementedError

    def read_event(self) -> list[Any]:
        raise NotImplementedError

    def stop(self) -> None:
        """Disarm."""

    def close(self) -> None:
        """Disconnect."""


class SimPmtDriver(PmtDriver):
    name = "sim"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.pacer = FramePacer(float(self.settings["Trigger rate"]))
        self.events = 0
        self.camera: Any = None
        self.pmt: Any = None

    def open(self) -> None:
        from cygno_mw.frontends.camera_sim_driver import _sensor
        from cygno_mw.simulation.camera import CameraSimulator
        from cygno_mw.simulation.pmt import FAST_BOARD, SLOW_BOARD, PmtSimulator
        from cygno_mw.simulation.signals import SignalMix

        seed = int(self.settings["Sim seed"])
        boards = {"both": (FAST_BOARD, SLOW_BOARD), "V1742": (FAST_BOARD,),
                  "V1720": (SLOW_BOARD,)}[self.settings["Boards"]]
        self.camera = CameraSimulator(_sensor(seed), mix=SignalMix.parse(self.settings["Sim mix"]),
                                      seed=seed, exposure=float(self.settings["Exposure"]))
        self.pmt = PmtSimulator(seed, boards=boards)

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        super().configure(settings, changed)
        if changed & {"Boards", "Sim mix", "Sim seed", "Exposure"} and self.pmt is not None:
            self.open()
        if "Trigger rate" in changed:
            self.pacer.set_rate(float(self.settings["Trigger rate"]))

    def start(self) -> None:
        self.events = 0
        self.pacer.restart()

    def event_ready(self) -> bool:
        return self.pmt is not None and self.pacer.ready()

    def read_event(self) -> list[Any]:
        truth = self.camera.signals()
        event_time = self.events * float(self.settings["Exposure"])
        self.events += 1
        self.pacer.taken()
        return self.pmt.event_boards(truth, event_time)


_REGISTRY: dict[str, str | Callable[[Mapping[str, Any]], PmtDriver]] = {"sim": SimPmtDriver}


def pmt_driver_names() -> list[str]:
    return list(_REGISTRY)


def register_pmt_driver(name: str, factory: str | Callable[[Mapping[str, Any]], PmtDriver]):
    _REGISTRY[name] = factory


def unregister_pmt_driver(name: str) -> None:
    _REGISTRY.pop(name, None)


def make_pmt_driver(settings: Mapping[str, Any]) -> PmtDriver:
    entry = _REGISTRY.get(str(settings.get("Driver")))
    if entry is None:
        raise ConfigError(f"unknown PMT driver {settings.get('Driver')!r} "
                          f"(known: {', '.join(_REGISTRY)})")
    if isinstance(entry, str):
        module_name, class_name = entry.split(":")
        return getattr(importlib.import_module(module_name), class_name)(settings)
    return entry(settings)
