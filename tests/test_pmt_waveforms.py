"""PMT waveforms: DRS4 correction with the LIME tables, and scipy-exact peak finding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks, peak_widths

from cygno_mw.errors import UsageError
from cygno_mw.gpu.pmt_waveforms import (
    PmtParams,
    analyse_waveforms,
    drs4_correct,
    find_peaks_2d,
    moving_average,
)


def _pulses(n_trig=4, n_ch=3, n_samp=1024, seed=0):
    """Negative PMT pulses on a 2000-count baseline with white noise (int16-like counts)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samp)
    wf = 2000 + rng.normal(0, 3, (n_trig, n_ch, n_samp))
    truth = []
    for i in range(n_trig):
        for c in range(n_ch):
            for _ in range(int(rng.integers(0, 4))):
                t0, amp, tau = rng.uniform(200, 900), rng.uniform(30, 300), rng.uniform(4, 20)
                wf[i, c] -= amp * np.exp(-0.5 * ((t - t0) / tau) ** 2)
                truth.append((i, c, t0, amp))
    return np.rint(wf), truth


def test_drs4_correction_is_cygnolibs(shared_data):
    table_cell = np.load(shared_data / "pmt" / "table_cell_LNGS.npy")
    table_nsample = np.load(shared_data / "pmt" / "table_nsample_LNGS.npy")
    assert table_cell.shape == table_nsample.shape == (8, 1024)
    rng = np.random.default_rng(1)
    raw = rng.integers(1500, 2500, (5, 8, 1024))
    cells = rng.integers(0, 1024, 5)
    out = drs4_correct(raw, cells, table_cell, table_nsample)
    expected = raw.astype(np.float64)
    for trig in range(5):  # the C++ loop, literally
        for ch in range(8):
            for s in range(0, 1024, 97):
                ref = raw[trig, ch, s] - table_cell[ch][(s + cells[trig]) % 1024]
                expected[trig, ch, s] = ref - table_nsample[ch][s]
    sampled = np.arange(0, 1024, 97)
    np.testing.assert_allclose(out[..., sampled], expected[..., sampled], atol=1e-3)
    # a subset of channels maps onto table rows
    sub = drs4_correct(raw[:, [2, 5]], cells, table_cell, table_nsample, channels=[2, 5])
    np.testing.assert_array_equal(sub, out[:, [2, 5]])


def test_drs4_bad_input():
    tables = np.zeros((8, 1024)), np.zeros((8, 1024))
    with pytest.raises(UsageError, match="start cells"):
        drs4_correct(np.zeros((2, 8, 1024)), [0], *tables)
    with pytest.raises(UsageError, match="channel rows"):
        drs4_correct(np.zeros((1, 9, 1024)), [0], *tables)
    with pytest.raises(UsageError, match="triggers, channels, samples"):
        drs4_correct(np.zeros((8, 1024)), [0], *tables)


@pytest.mark.parametrize("seed", range(4))
def test_peaks_equal_scipy_find_peaks(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, (12, 400)).cumsum(axis=1)
    y[:, 50:60] = np.round(y[:, 50:60])  # plateaus
    y[3, 100:110] = 50.0
    height = rng.uniform(-5, 5, 12)
    prominence = rng.uniform(0.5, 4, 12)
    ours = find_peaks_2d(y, height, prominence, min_width=2.0)
    for r in range(12):
        peaks, props = find_peaks(y[r], height=height[r], prominence=prominence[r], width=2.0)
        mine = ours["row"] == r
        np.testing.assert_array_equal(ours["position"][mine], peaks)
        np.testing.assert_allclose(ours["prominence"][mine], props["prominences"])
        np.testing.assert_allclose(ours["half_width"][mine], props["widths"])
        full = peak_widths(y[r], peaks, rel_height=0.95)[0] if len(peaks) else []
        np.testing.assert_allclose(ours["full_width"][mine], full)


def test_analysis_finds_the_injected_pulses():
    wf, truth = _pulses()
    result = analyse_waveforms(wf, PmtParams())
    assert result.baseline.shape == (4, 3)
    np.testing.assert_allclose(result.baseline, 2000, atol=2)
    assert (result.rms > 0).all() and (result.rms < 3).all()
    found = result.peaks
    for trig, ch, t0, amp in truth:
        if amp < 60:
            continue  # may hide under a taller pulse's prominence cut (max/4)
        mine = (found["trigger"] == trig) & (found["channel"] == ch)
        assert np.min(np.abs(found["position"][mine] - t0), initial=1e9) < 8
    assert result.n_peaks.sum() == len(found["position"])
    quiet = analyse_waveforms(np.full((1, 1, 1024), 2000.0) + np.random.default_rng(0)
                              .normal(0, 2, (1, 1, 1024)))
    assert quiet.n_peaks.sum() == 0
    with pytest.raises(UsageError):
        analyse_waveforms(np.zeros((1, 1, 50)))
    with pytest.raises(UsageError, match="NaN"):
        analyse_waveforms(np.full((1, 1, 1024), np.nan))


def test_moving_average_is_the_experiments_rolling_mean():
    y = np.arange(10, dtype=float)[None, :]
    out = moving_average(y, 5)
    np.testing.assert_allclose(out[0, :6], np.arange(2, 8))
    np.testing.assert_array_equal(out[0, 6:], 0)
