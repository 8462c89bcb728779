"""PMT digitizer drivers: each event is the DGH0/DIG0 content of one camera exposure.

A driver is opened once, started at begin-of-run, says when an event is ready (`event_ready`,
quick) and returns it as the boards of that exposure (`read_event`, a list of
`cygno_mw.banks.pmt.BoardData`); it raises when the digitizers are gone.  The only driver so
far is `sim`: waveforms from `cygno_mw.simulation.pmt` for the signals of a simulated camera
exposure, on the fast V1742 (DRS4) and / or the slow V1720 board, at `Trigger rate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygno_mw.frontends.driver_registry import Driver, DriverRegistry
from cygno_mw.frontends.frame_pacer import FramePacer


class PmtDriver(Driver):
    def event_ready(self) -> bool:
        raise NotImplementedError

    def read_event(self) -> list[Any]:
        raise NotImplementedError


class SimPmtDriver(PmtDriver):
    name = "sim"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.pacer = FramePacer(float(self.settings["Trigger rate"]))
        self.events = 0
        self.camera: Any = None
        self.pmt: Any = None

    def open(self) -> None:
        from cygno_mw.simulation.camera import CameraSimulator
        from cygno_mw.simulation.pmt import FAST_BOARD, SLOW_BOARD, PmtSimulator
        from cygno_mw.simulation.sensor import SensorModel
        from cygno_mw.simulation.signals import SignalMix

        seed = int(self.settings["Sim seed"])
        boards = {"both": (FAST_BOARD, SLOW_BOARD), "V1742": (FAST_BOARD,),
                  "V1720": (SLOW_BOARD,)}[self.settings["Boards"]]
        self.camera = CameraSimulator(SensorModel.generate(seed),
                                      mix=SignalMix.parse(self.settings["Sim mix"]), seed=seed,
                                      exposure=float(self.settings["Exposure"]))
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


DRIVERS = DriverRegistry("PMT", {"sim": SimPmtDriver})
pmt_driver_names = DRIVERS.names
register_pmt_driver = DRIVERS.register
unregister_pmt_driver = DRIVERS.unregister
make_pmt_driver = DRIVERS.make
