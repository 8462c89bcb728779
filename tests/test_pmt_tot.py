"""pmt_TOT_time / pmt_TOT_area as the experiment's PMTreco.getTOT computes them (issue 23)."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu.pmt_waveforms import PmtParams, analyse_waveforms, time_over_threshold


def _experiments_tot(y: np.ndarray, rms: float, sampling: int) -> tuple[float, float, str]:
    """waveform.py PMTreco.getTOT from reading it, on the processed waveform: threshold 5 x
    getRMS(); x_array = linspace(0, sampling - 1, sampling); 10 samples in a row above the
    threshold start the signal at x - 10, then 5 in a row strictly below it end it at x - 5;
    no end: the window's length; area: y summed over int(time) samples from int(start)."""
    thr = rms * 5
    x = np.linspace(0, (sampling - 1), sampling)
    begin = end = 0.0
    c_up = c_down = 0
    beginning = ending = False
    for i, elem in enumerate(y):
        c_up = c_up + 1 if elem > thr else 0
        if c_up == 10 and not beginning:
            beginning, begin = True, x[i] - c_up
        if beginning:
            c_down = c_down + 1 if elem < thr else 0
            if c_down == 5 and not ending:
                ending, end = True, x[i] - c_down
    if not beginning:
        begin = end = 0.0
    if beginning and not ending:
        end = sampling
    time = end - begin
    area = 0.0
    for k in range(int(time)):
        area += y[int(begin) + k]
    return time, area, "open" if beginning and not ending else "closed" if ending else "none"


def _pulses(rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """Negative PMT-like pulses on a baseline, some running past the window's end."""
    t = np.arange(samples)
    wf = 3000 + rng.normal(0, 2.0, (n, 1, samples))
    for i in range(n):
        start = rng.integers(150, samples + 50)
        wf[i, 0] -= rng.uniform(20, 200) * np.exp(-0.5 * ((t - start) / rng.uniform(3, 40)) ** 2)
    return wf


@pytest.mark.parametrize("slow", [False, True])
def test_tot_is_the_experiments(slow):
    rng = np.random.default_rng(4 if slow else 3)
    p = PmtParams.slow() if slow else PmtParams.fast()
    samples = 4000 if slow else 1024
    wf = _pulses(rng, 40, samples)
    wf[0, 0, 300:] -= 60.0  # a step: starts, never ends
    wf[1, 0] = 3000.0 + rng.normal(0, 2.0, samples)  # noise only: 0, 0
    got = analyse_waveforms(wf, p)
    # the processed waveform the experiment's getTOT reads: baseline, inverted, averaged
    y = -(wf - wf[..., : p.baseline_samples].mean(axis=-1, keepdims=True))
    from cygno_mw.gpu.pmt_waveforms import moving_average

    y = moving_average(y, p.moving_average)
    kinds = set()
    for i in range(wf.shape[0]):
        rms = float(np.std(y[i, 0, : p.baseline_samples]))
        time, area, kind = _experiments_tot(y[i, 0], rms, samples)
        assert got.tot_time[i, 0] == time, i
        assert got.tot_area[i, 0] == pytest.approx(area, rel=1e-12, abs=1e-9), i
        kinds.add(kind)
    assert kinds == {"none", "open", "closed"}


def test_tot_kernel_edges():
    """Exactly 10 above starts (at the 10th sample's x minus 10: one sample before the
    first above, as the experiment counts); fewer do not; the end needs 5 strictly below."""
    y = np.zeros((3, 40))
    y[0, 5:15] = 2.0  # 10 above: starts at 4, ends at 14
    y[1, 5:14] = 2.0  # 9 above: nothing
    y[2, 5:30] = 2.0
    y[2, 20:24] = 1.0  # 4 at the threshold: not below
    time, area = time_over_threshold(y, np.full(3, 1.0))
    assert time.tolist() == [10.0, 0.0, 25.0] and area.tolist() == [18.0, 0.0, 44.0]
