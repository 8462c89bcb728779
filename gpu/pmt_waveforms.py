"""PMT waveform reconstruction (DRS4 digitiser), vectorised over triggers and channels.

Follows the experiment's PMTreco (waveform.py) with its LIME settings: baseline and noise
from the first samples, inversion of the negative PMT pulses, a moving average, then peaks
taller than `height_rms` x noise with scipy.signal.find_peaks (waveforms without a sample
above the height are skipped in one array pass).  The DRS4 cell correction is cygnolib's:
sample s of a waveform read from start cell SIC loses table_cell[ch][(s + SIC) % 1024] and
table_nsample[ch][s]; it applies to the fast board's channels `drs4_channels` picks, then
`remove_drs4_spikes` removes the chip's spikes with signed arithmetic.

Waveforms are plain arrays shaped (n_triggers, n_channels, n_samples), so this module does
not depend on how the DGH0/DIG0 banks are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cygno_mw.errors import UsageError

from .cpu_kernels import jit_cached

FULL_WIDTH_REL_HEIGHT = 0.95  # the second width the experiment stores (rel. height)


@dataclass(frozen=True)
class PmtParams:
    """LIME defaults of configFile_LNGS.txt for the fast digitiser (V1742: 1024 samples at
    750 MS/s, 100 for the baseline); `PmtParams.slow()` for the V1720 (4000 samples at
    250 MS/s, 400 for the baseline, as the experiment's PMTreco)."""

    baseline_samples: int = 100
    invert: bool = True  # PMT pulses are negative
    moving_average: int = 5  # 'resample'; 1 = none
    height_rms: float = 5.0  # peaks taller than height_rms x noise
    prominence: float = 0.1  # used when fixed_prominence is False
    fixed_prominence: bool = True  # prominence >= max(waveform) / 4, as the experiment
    min_width: float = 5.0  # samples, width at half prominence
    sample_ns: float = 1.0 / 0.75  # 750 MS/s

    @classmethod
    def fast(cls) -> PmtParams:
        return cls()

    @classmethod
    def slow(cls) -> PmtParams:
        return cls(baseline_samples=400, sample_ns=4.0)

    def __post_init__(self) -> None:
        if self.baseline_samples < 2:
            raise UsageError("baseline_samples must be >= 2")
        if self.moving_average < 1:
            raise UsageError("moving_average must be >= 1")
        if self.height_rms < 0 or self.min_width < 0 or self.sample_ns <= 0:
            raise UsageError("height_rms and min_width must be >= 0, sample_ns > 0")


@dataclass
class WaveformAnalysis:
    """Per (trigger, channel) numbers and the table of accepted peaks."""

    baseline: np.ndarray  # ADC counts
    rms: np.ndarray  # noise after the moving average
    integral: np.ndarray  # sum of the processed waveform (ADC x samples)
    max_amplitude: np.ndarray
    time_of_max: np.ndarray  # ns
    peaks: dict[str, np.ndarray] = field(default_factory=dict)  # one row per peak
    # mean of the baseline samples of the processed (inverted, averaged) waveform: what the
    # experiment stores as pmt_wf_baseline
    processed_baseline: np.ndarray | None = None
    # the experiment's pmt_TOT_time (samples) and pmt_TOT_area (ADC counts x samples)
    tot_time: np.ndarray | None = None
    tot_area: np.ndarray | None = None

    @property
    def n_peaks(self) -> np.ndarray:
        """Peaks per (trigger, channel)."""
        counts = np.zeros(self.baseline.size, dtype=np.int64)
        flat = self.peaks["trigger"] * self.baseline.shape[1] + self.peaks["channel"]
        np.add.at(counts, flat, 1)
        return counts.reshape(self.baseline.shape)


def drs4_correct(
    waveforms: np.ndarray,
    start_cells: np.ndarray,
    table_cell: np.ndarray,
    table_nsample: np.ndarray,
    channels: np.ndarray | None = None,
) -> np.ndarray:
    """DRS4 cell and sample corrections (float32), for waveforms (triggers, channels, samples).

    `start_cells` holds the start index cell of each trigger; `channels` the table row of
    each waveform channel (default: channel i uses row i).
    """
    wf = np.asarray(waveforms)
    if wf.ndim != 3:
        raise UsageError(f"waveforms must be (triggers, channels, samples), got {wf.shape}")
    n_trig, n_ch, n_samp = wf.shape
    cells = np.asarray(start_cells, dtype=np.int64).reshape(-1)
    if cells.shape[0] != n_trig:
        raise UsageError(f"{cells.shape[0]} start cells for {n_trig} triggers")
    cell_table = np.asarray(table_cell, dtype=np.float32)
    sample_table = np.asarray(table_nsample, dtype=np.float32)
    if cell_table.ndim != 2 or sample_table.shape != cell_table.shape:
        raise UsageError("table_cell and table_nsample must be (channels, cells) of one shape")
    n_cells = cell_table.shape[1]
    if n_samp > n_cells:
        raise UsageError(f"{n_samp} samples but the tables have {n_cells} cells")
    rows = np.arange(n_ch) if channels is None else np.asarray(channels, dtype=np.int64)
    if rows.shape != (n_ch,) or rows.min() < 0 or rows.max() >= cell_table.shape[0]:
        raise UsageError(f"channel rows {rows.tolist()} do not fit tables of "
                         f"{cell_table.shape[0]} channels")
    cell_index = (np.arange(n_samp)[None, :] + cells[:, None]) % n_cells  # (trig, samp)
    out = wf.astype(np.float32)
    out -= cell_table[rows[None, :, None], cell_index[:, None, :]]
    out -= sample_table[rows, :n_samp][None, :, :]
    return out


def drs4_channels(offsets: np.ndarray, already_corrected: bool,
                  n_table_channels: int = 8) -> np.ndarray:
    """The channels the experiment corrects for DRS4 offsets: none when the digitizer
    already did (ODB /Configurations/DRS4Correction), else those of the first
    `n_table_channels` (the tables' rows) whose DC offset lies in (-0.35, -0.25)."""
    if already_corrected:
        return np.zeros(0, dtype=np.int64)
    first = np.asarray(offsets, dtype=np.float64)[:n_table_channels]
    return np.flatnonzero((first > -0.35) & (first < -0.25))


SPIKE_JUMP = 30.0  # ADC counts: a DRS4 spike dips this far below both neighbours


def remove_drs4_spikes(waveforms: np.ndarray, channels: np.ndarray,
                       jump: float = SPIKE_JUMP) -> np.ndarray:
    """DRS4 spikes removed from `channels` of (triggers, channels, samples) waveforms.

    A spike is a dip of one or two samples, more than `jump` below the samples on both
    sides, at the same sample in every one of `channels` (the chip's cells are read
    together); it is replaced by the mean of the two samples around it.  All differences are
    signed (float64): a sample *above* its neighbour is never a dip (the experiment's code
    differences unsigned samples, where it wraps around and finds spikes on rising edges)."""
    out = np.array(waveforms, dtype=np.float64)
    chans = np.asarray(channels, dtype=np.int64)
    n = out.shape[-1]
    if chans.size == 0 or n < 4:
        return out
    w = out[:, chans, :]  # (trig, k, samp)
    left, mid, right = w[..., :-2], w[..., 1:-1], w[..., 2:]
    one = ((left - mid) > jump) & ((right - mid) > jump)  # dip at sample i (1..n-2)
    one_all = one.all(axis=1)  # (trig, n-2)
    # two samples: i and i+1 both below i-1 and i+2, and close to each other
    a, b, c, d = w[..., :-3], w[..., 1:-2], w[..., 2:-1], w[..., 3:]
    two = ((a - b) > jump) & ((d - b) > jump) & ((a - c) > jump) & ((d - c) > jump)
    two_all = two.all(axis=1) & ~one_all[:, :-1] & ~one_all[:, 1:]
    fixed = w.copy()
    t, i = np.nonzero(one_all)
    fixed[t, :, i + 1] = 0.5 * (w[t, :, i] + w[t, :, i + 2])
    t, i = np.nonzero(two_all)
    mean = 0.5 * (w[t, :, i] + w[t, :, i + 3])
    fixed[t, :, i + 1] = mean
    fixed[t, :, i + 2] = mean
    out[:, chans, :] = fixed
    return out


def analyse_waveforms(waveforms: np.ndarray, params: PmtParams | None = None) -> WaveformAnalysis:
    """Baseline, noise, integral, time of maximum and peaks of every waveform."""
    p = params or PmtParams()
    wf = np.asarray(waveforms, dtype=np.float64)
    if wf.ndim != 3 or wf.shape[2] <= p.baseline_samples:
        raise UsageError(
            f"waveforms must be (triggers, channels, samples > {p.baseline_samples}), "
            f"got {wf.shape}"
        )
    if not np.isfinite(wf).all():
        raise UsageError("waveforms contain NaN or infinite values")
    _, n_ch, n_samp = wf.shape
    baseline = wf[..., : p.baseline_samples].mean(axis=-1)
    y = wf - baseline[..., None]
    if p.invert:
        y = -y
    y = moving_average(y, p.moving_average)
    rms = y[..., : p.baseline_samples].std(axis=-1)
    flat = y.reshape(-1, n_samp)
    peaks = find_peaks_2d(
        flat,
        height=(p.height_rms * rms).reshape(-1),
        prominence=(flat.max(axis=1) / 4.0 if p.fixed_prominence
                    else np.full(flat.shape[0], p.prominence)),
        min_width=p.min_width,
    )
    which = peaks.pop("row")
    peaks["trigger"], peaks["channel"] = np.divmod(which, n_ch)
    peaks["time"] = peaks["position"] * p.sample_ns
    tot_time, tot_area = time_over_threshold(flat, (TOT_RMS * rms).reshape(-1))
    return WaveformAnalysis(
        baseline=baseline,
        rms=rms,
        integral=y.sum(axis=-1),
        max_amplitude=y.max(axis=-1),
        time_of_max=np.argmax(y, axis=-1) * p.sample_ns,
        peaks=peaks,
        processed_baseline=y[..., : p.baseline_samples].mean(axis=-1),
        tot_time=tot_time.reshape(rms.shape),
        tot_area=tot_area.reshape(rms.shape),
    )


# the experiment's PMTreco.getTOT: threshold 5 x rms; 10 samples in a row above it start the
# signal, then 5 in a row below it end it ("normal runs" settings)
TOT_RMS = 5.0
TOT_START = 10
TOT_END = 5


@jit_cached
def time_over_threshold(y: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PMTreco.getTOT per processed waveform (rows of y): the signal starts TOT_START samples
    before the TOT_START-th sample in a row above the threshold, and ends TOT_END samples
    before the TOT_END-th sample in a row below it (strictly, counted from that start on),
    or at the end of the window; time = end - start (samples), area = the sum of y over
    int(time) samples from int(start).  No start: 0 and 0."""
    n_rows, n = y.shape
    tot_time = np.zeros(n_rows)
    tot_area = np.zeros(n_rows)
    for r in range(n_rows):
        thr = threshold[r]
        up = down = 0
        begin = end = 0.0
        started = ended = False
        for i in range(n):
            v = y[r, i]
            up = up + 1 if v > thr else 0
            if up == TOT_START and not started:
                started = True
                begin = float(i - up)
            if started:
                down = down + 1 if v < thr else 0
                if down == TOT_END and not ended:
                    ended = True
                    end = float(i - down)
        if not started:
            continue
        if not ended:
            end = float(n)
        tot_time[r] = end - begin
        area = 0.0
        for k in range(int(end - begin)):
            area += y[r, int(begin) + k]
        tot_area[r] = area
    return tot_time, tot_area


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """The experiment's rolling mean: out[j] = mean(y[j : j + window]), zeros at the end."""
    if window <= 1:
        return y.copy()
    n = y.shape[-1]
    csum = np.cumsum(y, axis=-1)
    out = np.zeros_like(y)
    if n >= window:
        head = np.zeros_like(y[..., :1])
        csum = np.concatenate([head, csum], axis=-1)
        out[..., : n - window + 1] = (csum[..., window:] - csum[..., : n - window + 1]) / window
    return out


def find_peaks_2d(
    y: np.ndarray, height: np.ndarray, prominence: np.ndarray, min_width: float
) -> dict[str, np.ndarray]:
    """scipy.signal.find_peaks(height, prominence, width) on every row of `y`.

    Returns row, position, height, prominence, half_width (rel. height 0.5) and full_width
    (rel. height 0.95, as the experiment also stores).  One compiled pass over all rows
    (gpu/cpu_peaks.py) with scipy's definitions and arithmetic: the same peaks, bit for bit,
    without a Python call per waveform.
    """
    from .cpu_peaks import find_peaks_rows  # Numba: loaded with the first PMT event

    y = np.ascontiguousarray(y, dtype=np.float64)
    n_rows = y.shape[0]
    # writable float64 copies: one compiled signature whatever the caller passes
    height = np.array(np.broadcast_to(height, (n_rows,)), dtype=np.float64)
    prominence = np.array(np.broadcast_to(prominence, (n_rows,)), dtype=np.float64)
    table = find_peaks_rows(y, height, prominence, float(min_width), FULL_WIDTH_REL_HEIGHT)
    names = ("position", "height", "prominence", "half_width", "full_width")
    out = {"row": table[0].astype(np.int64)}
    out.update({name: table[k + 1].copy() for k, name in enumerate(names)})
    return out
