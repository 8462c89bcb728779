"""PMT peak finding: `find_peaks_2d` against a plain loop over scipy.signal.find_peaks.

Both on the same LIME-like fast-board waveforms (processed as analyse_waveforms does:
inverted, moving average; noise, a few pulses on some channels), with the experiment's
thresholds (height 5 x rms, prominence max / 4, width >= 5 samples).  Prints the median time
of each, their ratio, and that both found the same peaks.

    .venv/bin/python bench/pmt.py [--triggers 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.signal import find_peaks, peak_widths

from cygno_mw.gpu.pmt_waveforms import PmtParams, find_peaks_2d, moving_average


def waveforms(n_rows: int, n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 4.0, (n_rows, n_samples))
    t = np.arange(n_samples)
    for r in rng.choice(n_rows, n_rows // 3, replace=False):
        for _ in range(rng.integers(1, 4)):
            t0, amp, tau = rng.uniform(150, n_samples - 100), rng.uniform(30, 400), 8.0
            y[r] += amp * np.exp(-0.5 * ((t - t0) / tau) ** 2)
    return moving_average(y, PmtParams().moving_average)


def plain_loop(y, height, prominence, min_width):
    found = []
    for r in range(y.shape[0]):
        pos, props = find_peaks(y[r], height=height[r], prominence=prominence[r],
                                width=min_width)
        full = peak_widths(y[r], pos, rel_height=0.95)[0] if pos.size else np.zeros(0)
        found.append((pos, props, full))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    p = PmtParams()
    y = waveforms(args.triggers * 8, 1024, seed=1)
    rms = y[:, : p.baseline_samples].std(axis=1)
    height, prominence = p.height_rms * rms, y.max(axis=1) / 4.0
    batch_times, loop_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = find_peaks_2d(y, height, prominence, p.min_width)
        batch_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = plain_loop(y, height, prominence, p.min_width)
        loop_times.append(time.perf_counter() - t0)
    positions = np.concatenate([f[0] for f in ref]).astype(float)
    same = np.array_equal(ours["position"], positions)
    t_batch, t_loop = statistics.median(batch_times), statistics.median(loop_times)
    print(f"{y.shape[0]} waveforms x {y.shape[1]} samples, {positions.size} peaks; "
          f"median of {args.repeats}:")
    print(f"  find_peaks_2d        {1e3 * t_batch:8.2f} ms")
    print(f"  loop over find_peaks {1e3 * t_loop:8.2f} ms")
    print(f"  => batch / loop = {t_batch / t_loop:.2f}; same peaks: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
