"""PMT waveforms correlated with the camera signals, as LIME's two digitizers record them.

Model (simple, documented so that analyses know what to expect):

- each camera signal fires one PMT trigger; both boards record one "event" per trigger
  (the DGH0 `n_events` of a camera event = its number of signals, in time order);
- 4 PMTs sit beyond the frame corners; PMT k sees a share w_k ∝ 1 / (d_k² + h²) of the
  light (d_k: distance from the signal's centroid, h = half the frame), Σ w_k = 1;
- the pulse integral is `counts_ns_per_adu` × light (camera ADU before vignetting) × w_k
  in fast-board ADC counts × ns, with photo-electron (Poisson) fluctuations;
- the light arrives over the drift time of the track's z extent (muons: up to ≈9 µs,
  compact signals: tens of ns), each instant giving a fast pulse (rise 2 ns, decay 8 ns);
- negative pulses on a baseline set by the channel's DC offset:
  baseline = adc_max × (0.5 - 0.9 × offset), Gaussian noise, clipped to [0, adc_max - 1];
- the slow board (V1720, 2 Vpp) shows half the fast board's (V1742, 1 Vpp) counts;
- on the V1742 the raw samples carry the DRS4 offsets (see `cygno_mw.banks.pmt`), with a
  random start cell per trigger, on the channels the experiment corrects (the first 8 whose
  DC offset is about -0.3: `gpu.pmt_waveforms.drs4_channels`), not on channel 0 (offset
  -0.5): what is added is exactly what the analysis removes;
- `pulse_truth` (after each `event_boards`): per board, trigger and PMT channel, the pulse's
  start time in the window (ns), the light's duration (ns: the pulse is a box of it
  convolved with a 2 ns rise / 8 ns decay), its integral (ADC counts x ns) and peak amplitude
  (ADC counts) before noise, DRS4 offsets and rounding.
- trigger time tags count 8.5 ns (V1742, 30 bits) / 8 ns (V1720, 31 bits) from run start.

PMT k (1..4) is on channel k of both boards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cygno_mw.banks.pmt import V1720, V1742, BoardData, Drs4Tables, builtin_drs4_tables
from cygno_mw.simulation.signals import TrueSignal
from cygno_mw.simulation.tracks import DetectorConstants

N_PMTS = 4
PMT_CHANNELS = (1, 2, 3, 4)
# LIME's /Configurations/DigitizerOffset: 32 channels of the V1742, then 8 of the V1720.
FAST_OFFSETS = (-0.5,) + (-0.3,) * 7 + (0.0,) * 24
SLOW_OFFSETS = (-0.45,) + (0.0,) * 7


@dataclass(frozen=True)
class BoardConfig:
    """What one digitizer records."""

    model: int
    n_samples: int
    sampling_mhz: int
    offsets: tuple[float, ...]
    noise_counts: float
    gain: float  # ADC counts per fast-board count (input range)
    tag_ns: float
    tag_bits: int
    post_trigger: float = 0.6  # fraction of the window after the trigger
    adc_max: int = 4096

    @property
    def n_channels(self) -> int:
        return len(self.offsets)


FAST_BOARD = BoardConfig(V1742, 1024, 750, FAST_OFFSETS, 2.5, 1.0, 8.5, 30)
SLOW_BOARD = BoardConfig(V1720, 4000, 250, SLOW_OFFSETS, 1.5, 0.5, 8.0, 31)


class PmtSimulator:
    """DGH0/DIG0 content for each camera event, from that event's signal truth."""

    def __init__(
        self,
        seed: int | None = None,
        *,
        shape: tuple[int, int] = (2304, 2304),
        tables: Drs4Tables | None = None,
        boards: Sequence[BoardConfig] = (FAST_BOARD, SLOW_BOARD),
        counts_ns_per_adu: float = 4.0,
        pe_per_adu: float = 0.05,
        constants: DetectorConstants | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.shape = shape
        self.tables = tables if tables is not None else builtin_drs4_tables()
        self.boards = tuple(boards)
        self.counts_ns_per_adu = counts_ns_per_adu
        self.pe_per_adu = pe_per_adu
        self.constants = constants or DetectorConstants()
        rows, cols = shape
        self.pmt_xy = np.array([(-0.1 * cols, -0.1 * rows), (1.1 * cols, -0.1 * rows),
                                (-0.1 * cols, 1.1 * rows), (1.1 * cols, 1.1 * rows)])
        self.height = 0.5 * max(rows, cols)
        self.pulse_truth: list[dict[str, float]] = []

    def event_boards(self, truth: Sequence[TrueSignal], event_time: float) -> list[BoardData]:
        """One BoardData per digitizer; sets `pmt_event` and `pmt_charge` of each signal.

        `event_time`: seconds from run start to the exposure start (for the time tags).
        """
        charges = np.array([self._charges(s) for s in truth]).reshape(len(truth), N_PMTS)
        durations = np.array([self._duration_ns(s) for s in truth])
        times = np.array([event_time + s.time for s in truth])
        fast_dt = 1000.0 / FAST_BOARD.sampling_mhz
        for index, signal in enumerate(truth):
            signal.pmt_event = index
            signal.pmt_charge = (charges[index] / fast_dt).astype(np.float32)
        start_cells = self.rng.integers(0, 1024, len(truth)).astype(np.uint32)
        self.pulse_truth = []
        return [self._board(cfg, charges, durations, times, start_cells) for cfg in self.boards]

    def _charges(self, signal: TrueSignal) -> np.ndarray:
        """Pulse integral per PMT (fast ADC counts × ns), with photo-electron statistics."""
        d2 = ((self.pmt_xy - (signal.x, signal.y)) ** 2).sum(axis=1)
        share = 1.0 / (d2 + self.height**2)
        share /= share.sum()
        mean_pe = signal.light * self.pe_per_adu * share
        pe = self.rng.poisson(mean_pe)
        return pe / self.pe_per_adu * self.counts_ns_per_adu

    def _duration_ns(self, signal: TrueSignal) -> float:
        """How long the light takes to arrive: drift time of the z extent plus diffusion."""
        k = self.constants
        if signal.kind == "muon":
            dz_mm = abs(signal.z_end - signal.z_start) * 10.0
        else:  # compact: random dip of the path
            dz_mm = signal.path_length * k.pixel_mm * self.rng.uniform(0.0, 1.0)
        dz_mm += 4.0 * signal.sigma * k.pixel_mm
        return dz_mm / (k.drift_velocity_cm_us * 1e-2)

    def _board(self, cfg: BoardConfig, charges: np.ndarray, durations: np.ndarray,
               times: np.ndarray, start_cells: np.ndarray) -> BoardData:
        n_events = len(charges)
        dt = 1000.0 / cfg.sampling_mhz
        offsets = np.asarray(cfg.offsets)
        baseline = cfg.adc_max * (0.5 - 0.9 * offsets)
        waves = self.rng.standard_normal((n_events, cfg.n_channels, cfg.n_samples))
        waves *= cfg.noise_counts
        waves += baseline[None, :, None]
        t = np.arange(cfg.n_samples) * dt
        t_trigger = (1.0 - cfg.post_trigger) * cfg.n_samples * dt
        for event in range(n_events):
            start = t_trigger + self.rng.uniform(0.0, 2.0 * dt)
            shape = _pulse_shape(t - start, durations[event])  # per ns, unit integral
            for pmt, channel in enumerate(PMT_CHANNELS):
                pulse = cfg.gain * charges[event, pmt] * shape
                waves[event, channel] -= pulse
                self.pulse_truth.append({
                    "model": cfg.model, "trigger": event, "channel": channel,
                    "time_ns": float(start), "duration_ns": float(durations[event]),
                    "integral": float(pulse.sum() * dt),
                    "amplitude": float(pulse.max()),
                })
        if cfg.model == V1742:
            from cygno_mw.gpu.pmt_waveforms import drs4_channels

            corrected = drs4_channels(offsets, already_corrected=False)
            for event in range(n_events):
                drs4 = self.tables.offsets(int(start_cells[event]), cfg.n_channels)
                waves[event, corrected] += drs4[corrected]
        np.rint(waves, out=waves)
        np.clip(waves, 0, cfg.adc_max - 1, out=waves)
        tags = np.rint(times * 1e9 / cfg.tag_ns).astype(np.uint64) % (1 << cfg.tag_bits)
        return BoardData(
            model=cfg.model,
            waveforms=waves.astype(np.uint16),
            trigger_tags=tags.astype(np.uint32),
            start_cells=start_cells if cfg.model == V1742 else None,
            offsets=offsets,
            adc_max=cfg.adc_max,
            sampling_rate=cfg.sampling_mhz,
        )


def _pulse_shape(t_ns: np.ndarray, duration_ns: float, rise_ns: float = 2.0,
                 decay_ns: float = 8.0) -> np.ndarray:
    """Unit-integral (per ns) pulse: a box of `duration_ns` convolved with a fast pulse."""
    # (1/D) ∫_0^D p(t - u) du = (F(t) - F(t - D)) / D, F the integral of the fast pulse p.
    duration = max(duration_ns, 1e-3)

    def integral(x: np.ndarray) -> np.ndarray:
        x = np.maximum(x, 0.0)
        rising = decay_ns * (1 - np.exp(-x / decay_ns)) - rise_ns * (1 - np.exp(-x / rise_ns))
        return rising / (decay_ns - rise_ns)

    return (integral(t_ns) - integral(t_ns - duration)) / duration
