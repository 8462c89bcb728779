"""What the simulation injects into an image (`SignalMix`) and the truth it keeps (`TrueSignal`).

Coordinates are full-resolution pixels with x = column and y = row (row-major image
`image[y, x]`, pixel centres at integer coordinates).  `theta` is the angle of the track's
principal axis from +x towards +y, folded into (-π/2, π/2]; NaN for 55Fe spots, which have
no direction.  Light is in camera ADU: `light` is what the signal would give with
acceptance 1 (before vignetting, what sc_integral estimates), `light_sensor` is what
actually landed on the sensor after vignetting and photon statistics (sc_rawintegral).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from cygno_mw.errors import UsageError

KINDS = ("fe55", "muon", "nr", "er")


@dataclass(eq=False)
class TrueSignal:
    """Ground truth of one injected signal."""

    kind: str
    x: float  # light-weighted centroid of the ionisation, column (px)
    y: float  # same, row (px)
    theta: float  # principal axis (rad), NaN for fe55
    length: float  # extent along the principal axis of the ionisation path (px)
    light: float  # ADU before vignetting (expected, with ionisation fluctuations)
    light_sensor: float  # ADU on the sensor: after vignetting and photon statistics
    energy_kev: float  # deposited energy (visible energy for nuclear recoils)
    sigma: float  # transverse diffusion at the mean drift distance (px)
    z: float  # mean drift distance (cm)
    time: float  # seconds since the start of the exposure
    z_start: float = math.nan  # drift distance at the start of the path (cm)
    z_end: float = math.nan
    x_start: float = math.nan
    y_start: float = math.nan
    x_end: float = math.nan
    y_end: float = math.nan
    path_length: float = 0.0  # length along the ionisation path (px); > length for curly ERs
    group: int = -1  # index of the close pair it belongs to, -1 if none
    pmt_event: int = -1  # index of its PMT trigger in the event's DGH0 board lists, -1 none
    pmt_charge: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    footprint: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    footprint_light: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def footprint_rc(self, n_cols: int = 2304) -> tuple[np.ndarray, np.ndarray]:
        """Footprint as (rows, cols); `footprint` holds flat indices row * n_cols + col."""
        return np.divmod(self.footprint, n_cols)

    def scalars(self) -> dict[str, float | int | str]:
        """The scalar fields (everything but the arrays), for tables and printing."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ARRAYS}


_ARRAYS = frozenset({"pmt_charge", "footprint", "footprint_light"})


@dataclass(frozen=True)
class SignalMix:
    """Mean number of signals of each kind per image, plus close pairs.

    With `poisson` the counts are Poisson-distributed around these means, otherwise they
    are the rounded means.  A close pair is two compact signals (55Fe, NR or small ER)
    10-60 px apart, so that clustering has to separate them.  `region` (row_min,
    row_max, col_min, col_max) limits where compact signals are placed; muons always cross
    the frame.
    """

    fe55: float = 5.0
    muon: float = 1.0
    nr: float = 1.0
    er: float = 2.0
    close_pairs: float = 0.0
    poisson: bool = False
    region: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        for name in (*KINDS, "close_pairs"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise UsageError(f"signal count {name}={value!r} must be a number >= 0")
        if self.region is not None:
            r0, r1, c0, c1 = self.region
            if not (0 <= r0 < r1 and 0 <= c0 < c1):
                raise UsageError(f"signal region {self.region} is not row_min<row_max, ...")

    @classmethod
    def none(cls) -> SignalMix:
        """No signals at all (pedestal-like physics images)."""
        return cls(fe55=0, muon=0, nr=0, er=0, close_pairs=0)

    @classmethod
    def from_rates(cls, exposure: float, **rates_hz: float) -> SignalMix:
        """Mean counts from rates in Hz times the exposure; always Poisson-drawn."""
        unknown = set(rates_hz) - {*KINDS, "close_pairs"}
        if unknown:
            raise UsageError(f"unknown signal kind(s): {', '.join(sorted(unknown))}")
        counts = {name: float(rate) * exposure for name, rate in rates_hz.items()}
        base = {name: 0.0 for name in (*KINDS, "close_pairs")}
        return cls(**{**base, **counts}, poisson=True)

    @classmethod
    def parse(cls, text: str) -> SignalMix:
        """From `fe55=5,muon=1,nr=0,er=2,close_pairs=1[,poisson=1]` (unnamed kinds are 0)."""
        values: dict[str, float] = {name: 0.0 for name in (*KINDS, "close_pairs")}
        poisson = False
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip().lower().replace("-", "_")
            if not sep:
                raise UsageError(f"bad mix item {item!r}: expected KIND=COUNT")
            if name == "pairs":
                name = "close_pairs"
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"bad mix item {item!r}: {value!r} is not a number") from None
            if name == "poisson":
                poisson = bool(number)
            elif name in values:
                values[name] = number
            else:
                known = ", ".join((*KINDS, "close_pairs", "poisson"))
                raise UsageError(f"unknown signal kind {name!r} in mix (known: {known})")
        return cls(**values, poisson=poisson)

    def counts(self, rng: np.random.Generator) -> dict[str, int]:
        """How many of each kind (and close pairs) this image gets."""
        means: Mapping[str, float] = {n: getattr(self, n) for n in (*KINDS, "close_pairs")}
        if self.poisson:
            return {name: int(rng.poisson(mean)) for name, mean in means.items()}
        return {name: round(float(mean)) for name, mean in means.items()}

    def describe(self) -> str:
        text = ",".join(f"{n}={getattr(self, n):g}" for n in (*KINDS, "close_pairs"))
        return text + (",poisson=1" if self.poisson else "")
