"""PMT waveform reconstruction (DRS4 digitiser), vectorised over triggers and channels.

Follows the experiment's PMTreco (waveform.py) with its LIME settings: baseline and noise
from the first samples, inversion of the negative PMT pulses, a moving average, then peaks
taller than `height_rms` x noise with scipy.signal.find_peaks' prominence and width
definitions (reproduced exactly, without a loop over waveforms or samples).  The DRS4 cell
correction is cygnolib's: sample s of a waveform read from start cell SIC loses
table_cell[ch][(s + SIC) % 1024] and table_nsample[ch][s].

Waveforms are plain arrays shaped (n_triggers, n_channels, n_samples), so this module does
not depend on how the DGH0/DIG0 banks are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cygno_mw.errors import UsageError


@dataclass(frozen=True)
class PmtParams:
    """LIME defaults of configFile_LNGS.txt (fast digitiser: 1024 samples, 100 for baseline)."""

    baseline_samples: int = 100
    invert: bool = True  # PMT pulses are negative
    moving_average: int = 5  # 'resample'; 1 = none
    height_rms: float = 5.0  # peaks taller than height_rms x noise
    prominence: float = 0.1  # used when fixed_prominence is False
    fixed_prominence: bool = True  # prominence >= max(waveform) / 4, as the experiment
    min_width: float = 5.0  # samples, width at half prominence
    sample_ns: float = 1.0 / 0.75  # 750 MS/s

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
    return WaveformAnalysis(
        baseline=baseline,
        rms=rms,
        integral=y.sum(axis=-1),
        max_amplitude=y.max(axis=-1),
        time_of_max=np.argmax(y, axis=-1) * p.sample_ns,
        peaks=peaks,
    )


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
    """scipy.signal.find_peaks(height, prominence, width) on every row of `y` at once.

    Returns row, position, height, prominence, half_width (rel. height 0.5) and full_width
    (rel. height 0.95, as the experiment also stores).
    """
    n = y.shape[1]
    row, pos = _local_maxima(y)
    value = y[row, pos]
    keep = value >= height[row]
    row, pos, value = row[keep], pos[keep], value[keep]
    empty = {k: np.zeros(0) for k in ("position", "height", "prominence", "half_width",
                                       "full_width")}
    if row.size == 0:
        return {"row": np.zeros(0, dtype=np.int64), **empty}
    data = y[row]  # (k, n)
    idx = np.arange(n)[None, :]
    p = pos[:, None]
    v = value[:, None]
    higher_left = np.where((idx < p) & (data > v), idx, -1).max(axis=1)
    higher_right = np.where((idx > p) & (data > v), idx, n).min(axis=1)
    left_zone = (idx > higher_left[:, None]) & (idx <= p)
    right_zone = (idx >= p) & (idx < higher_right[:, None])
    left_min = np.where(left_zone, data, np.inf).min(axis=1)
    right_min = np.where(right_zone, data, np.inf).min(axis=1)
    left_base = np.where(left_zone & (data == left_min[:, None]), idx, -1).max(axis=1)
    right_base = np.where(right_zone & (data == right_min[:, None]), idx, n).min(axis=1)
    prom = value - np.maximum(left_min, right_min)
    widths = {}
    for name, rel in (("half_width", 0.5), ("full_width", 0.95)):
        widths[name] = _widths(data, pos, value, prom * rel, left_base, right_base)
    keep = (prom >= prominence[row]) & (widths["half_width"] >= min_width)
    return {
        "row": row[keep].astype(np.int64),
        "position": pos[keep].astype(np.float64),
        "height": value[keep],
        "prominence": prom[keep],
        "half_width": widths["half_width"][keep],
        "full_width": widths["full_width"][keep],
    }


def _local_maxima(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and positions of scipy's local maxima (plateaus give their middle sample)."""
    n_rows, n = y.shape
    if n < 3:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # runs of equal values, never crossing a row boundary
    change = np.ones((n_rows, n), dtype=bool)
    change[:, 1:] = y[:, 1:] != y[:, :-1]
    starts = np.flatnonzero(change.ravel())
    ends = np.append(starts[1:], n_rows * n) - 1
    r_start, c_start = np.divmod(starts, n)
    c_end = ends - r_start * n
    flat = y.ravel()
    inner = (c_start >= 1) & (c_end <= n - 2)
    s, e, r = starts[inner], ends[inner], r_start[inner]
    is_peak = (flat[s - 1] < flat[s]) & (flat[e + 1] < flat[s])
    s, e, r = s[is_peak], e[is_peak], r[is_peak]
    middle = (s + e) // 2
    return r, middle - r * n


def _widths(data, pos, value, depth, left_base, right_base) -> np.ndarray:
    """scipy.signal.peak_widths for each peak at `value - depth`."""
    n = data.shape[1]
    idx = np.arange(n)[None, :]
    level = (value - depth)[:, None]
    k = np.arange(data.shape[0])
    below = data <= level
    left_zone = (idx >= left_base[:, None]) & (idx <= pos[:, None])
    left = np.where(left_zone & below, idx, -1).max(axis=1)
    left = np.where(left < 0, left_base, left)
    right_zone = (idx <= right_base[:, None]) & (idx >= pos[:, None])
    right = np.where(right_zone & below, idx, n).min(axis=1)
    right = np.where(right >= n, right_base, right)
    lv, rv = data[k, left], data[k, right]
    left_ip = left.astype(np.float64)
    step = left < pos
    ok = (lv < level[:, 0]) & step
    nxt = data[k, np.minimum(left + 1, n - 1)]
    left_ip[ok] += (level[ok, 0] - lv[ok]) / (nxt[ok] - lv[ok])
    right_ip = right.astype(np.float64)
    ok = (rv < level[:, 0]) & (right > pos)
    prev = data[k, np.maximum(right - 1, 0)]
    right_ip[ok] -= (level[ok, 0] - rv[ok]) / (prev[ok] - rv[ok])
    return right_ip - left_ip
