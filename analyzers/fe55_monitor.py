"""The light-yield monitor: where the 55Fe peak sits, per camera, window by window.

The 5.9 keV X-rays of the calibration source make small round spots of one known energy, so
the light of such spots tracks the detector's gain (GEM voltages, gas, temperature) over time.
A cluster counts as 55Fe-like when it is compact (`max_length` pixels along its major axis) and
roundish (`sc_width / sc_length >= min_roundness`): the real LIME spots in
`shared/data/cygno/pixels` are 68-88 px long with width/length about 0.5 (their noise hits
stretch them), tracks 380-1100 px with 0.04-0.12. The peak is the median of their light
(`sc_integral`, the vignetting-corrected integral) and the width the median absolute
deviation scaled to a Gaussian sigma (1.4826 MAD), both robust against the tails that muons
cut into small pieces and noise spots leave. A window closes after `window_s` seconds of event
time, or at the end of the run; a window with fewer than `min_clusters` spots gives no point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

MAD_TO_SIGMA = 1.4826  # median absolute deviation of a Gaussian, in sigmas


@dataclass(frozen=True)
class Fe55Selection:
    """What a 55Fe spot looks like, and how often a peak is estimated."""

    max_length: float = 100.0  # px, full resolution
    min_roundness: float = 0.45  # sc_width / sc_length
    window_s: float = 300.0  # event time per estimate
    min_clusters: int = 10


@dataclass(frozen=True)
class Fe55Point:
    """One window's estimate, for the `cygno_fe55` measurement."""

    run: int
    camera: int
    time: float  # last event of the window (UTC seconds)
    peak: float
    width: float
    clusters: int


@dataclass
class _Window:
    start: float
    end: float
    light: list[np.ndarray] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(part) for part in self.light)


class Fe55Monitor:
    """Collects 55Fe-like clusters per (run, camera) and hands out closed windows' points."""

    def __init__(self, selection: Fe55Selection | None = None) -> None:
        self.selection = selection or Fe55Selection()
        self._windows: dict[tuple[int, int], _Window] = {}

    def add(self, run: int, camera: int, time: float,
            clusters: Mapping[str, np.ndarray]) -> list[Fe55Point]:
        """One image's clusters; returns the point of a window this image closed, if any."""
        key = (int(run), int(camera))
        points = []
        window = self._windows.get(key)
        if window is not None and time - window.start >= self.selection.window_s:
            points += self._close(key)
            window = None
        if window is None:
            window = self._windows[key] = _Window(time, time)
        window.end = max(window.end, time)
        light = self._select(clusters)
        if len(light):
            window.light.append(light)
        return points

    def end_run(self, run: int) -> list[Fe55Point]:
        """The points of `run`'s open windows (every camera)."""
        points = []
        for key in [k for k in self._windows if k[0] == int(run)]:
            points += self._close(key)
        return points

    def _select(self, clusters: Mapping[str, np.ndarray]) -> np.ndarray:
        if "sc_length" not in clusters or len(clusters["sc_length"]) == 0:
            return np.zeros(0)
        length = np.asarray(clusters["sc_length"], dtype=np.float64)
        width = np.asarray(clusters["sc_width"], dtype=np.float64)
        light = np.asarray(clusters["sc_integral"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            round_enough = width / length >= self.selection.min_roundness
        chosen = (length <= self.selection.max_length) & round_enough & (light > 0)
        return light[chosen & np.isfinite(light)]

    def _close(self, key: tuple[int, int]) -> list[Fe55Point]:
        window = self._windows.pop(key)
        if window.count() < max(1, self.selection.min_clusters):
            return []
        light = np.concatenate(window.light)
        peak = float(np.median(light))
        width = float(MAD_TO_SIGMA * np.median(np.abs(light - peak)))
        return [Fe55Point(key[0], key[1], window.end, peak, width, len(light))]
