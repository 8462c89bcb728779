"""Simulated camera images (uint16, row-major, image[y, x]) with their ground truth.

Order of the physics: light from each signal, times the optical acceptance (vignetting),
with photon statistics (see `deposit`), then the sensor: pedestal + per-pixel Gaussian
read noise, rounded and clipped to uint16.  Signal pixels stay far below the 5000 ADU the
reconstruction treats as sparks; only hot pixels may go higher.
"""

from __future__ import annotations

import math

import numpy as np

from cygno_mw.errors import UsageError
from cygno_mw.simulation.deposit import render_deposit
from cygno_mw.simulation.sensor import SensorModel, digitise
from cygno_mw.simulation.signals import SignalMix, TrueSignal
from cygno_mw.simulation.tracks import (
    Deposit,
    DetectorConstants,
    cosmic_muon,
    electron_recoil,
    fe55_spot,
    nuclear_recoil,
)
from cygno_mw.vignetting import builtin_vignette_map, physical_acceptance

PAIR_KINDS = ("fe55", "nr", "er")
PAIR_DISTANCE_PX = (10.0, 60.0)


class CameraSimulator:
    """Images of one camera (`sensor`) with signals drawn from `mix`; deterministic by seed.

    Each `image()` call advances two independent random streams (signals and read noise)
    spawned from `seed`, so the n-th image of a simulator is always the same.
    """

    def __init__(
        self,
        sensor: SensorModel,
        vignette: np.ndarray | None = None,
        mix: SignalMix | None = None,
        seed: int | None = None,
        *,
        exposure: float = 0.3,
        constants: DetectorConstants | None = None,
        margin: int = 40,
    ) -> None:
        self.sensor = sensor
        if vignette is None:
            vignette = builtin_vignette_map(sensor.shape)
        if vignette.shape != sensor.shape:
            raise UsageError(f"vignetting map {vignette.shape} != sensor shape {sensor.shape}")
        # the experiment's layout leaves an edge uncovered (+inf): light there is physical
        self.vignette = physical_acceptance(vignette)
        self.mix = mix if mix is not None else SignalMix()
        self.exposure = float(exposure)
        self.constants = constants or DetectorConstants()
        self.margin = int(margin)
        signal_seed, noise_seed = np.random.SeedSequence(seed).spawn(2)
        self._signal_rng = np.random.default_rng(signal_seed)
        self._noise_rng = np.random.default_rng(noise_seed)
        self._frame = np.empty(sensor.shape, dtype=np.float32)

    def image(self, pedestal: bool = False) -> tuple[np.ndarray, list[TrueSignal]]:
        """One exposure: the uint16 image and the truth of its signals (none if pedestal)."""
        frame = self.sensor.noise_image(self._noise_rng, out=self._frame)
        truth = [] if pedestal else self.signals()
        flat = frame.reshape(-1)
        for signal in truth:  # footprint indices are unique within one signal
            flat[signal.footprint] += signal.footprint_light
        return digitise(frame), truth

    def signals(self) -> list[TrueSignal]:
        """Draw this exposure's signals (truth with footprints), ordered by time."""
        deposits = self._deposits()
        for deposit in deposits:
            deposit.time = float(self._signal_rng.uniform(0.0, self.exposure))
        deposits.sort(key=lambda d: d.time)
        return [render_deposit(d, self._signal_rng, self.vignette, self.constants)
                for d in deposits]

    def _deposits(self) -> list[Deposit]:
        rng, k = self._signal_rng, self.constants
        counts = self.mix.counts(rng)
        deposits = [cosmic_muon(rng, self.sensor.shape, k) for _ in range(counts["muon"])]
        for kind in ("fe55", "nr", "er"):
            deposits += [self._compact(kind, self._position()) for _ in range(counts[kind])]
        for group in range(counts["close_pairs"]):
            first = self._position()
            distance = rng.uniform(*PAIR_DISTANCE_PX)
            angle = rng.uniform(-math.pi, math.pi)
            second = self._clamped((first[0] + distance * math.cos(angle),
                                    first[1] + distance * math.sin(angle)))
            for centre in (first, second):
                deposit = self._compact(str(rng.choice(PAIR_KINDS)), centre, small=True)
                deposit.group = group
                deposits.append(deposit)
        return deposits

    def _compact(self, kind: str, centre: tuple[float, float], small: bool = False) -> Deposit:
        rng, k = self._signal_rng, self.constants
        z = float(rng.uniform(1.0, k.drift_cm - 1.0))
        if kind == "fe55":
            return fe55_spot(rng, centre, k, z)
        if kind == "nr":
            return nuclear_recoil(rng, centre, k, z)
        energies = (5.0, 15.0) if small else (5.0, 50.0)
        return electron_recoil(rng, centre, k, z, energy_range=energies)

    def _position(self) -> tuple[float, float]:
        """A random (x, y) inside the placement region."""
        rows, cols = self.sensor.shape
        r0, r1, c0, c1 = self.mix.region or (0, rows, 0, cols)
        lo_r, hi_r = max(r0, self.margin), min(r1, rows - self.margin)
        lo_c, hi_c = max(c0, self.margin), min(c1, cols - self.margin)
        if lo_r >= hi_r or lo_c >= hi_c:
            raise UsageError(f"signal region {self.mix.region} leaves no room in {rows}x{cols}")
        rng = self._signal_rng
        return float(rng.uniform(lo_c, hi_c)), float(rng.uniform(lo_r, hi_r))

    def _clamped(self, xy: tuple[float, float]) -> tuple[float, float]:
        rows, cols = self.sensor.shape
        m = self.margin
        return float(np.clip(xy[0], m, cols - 1 - m)), float(np.clip(xy[1], m, rows - 1 - m))
