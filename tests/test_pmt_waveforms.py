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


def assert_scipy_peaks(y, height, prominence, min_width):
    """find_peaks_2d equals scipy's find_peaks + peak_widths row by row, bit for bit."""
    ours = find_peaks_2d(y, height, prominence, min_width=min_width)
    assert ours["row"].dtype == np.int64
    for r in range(y.shape[0]):
        peaks, props = find_peaks(y[r], height=height[r], prominence=prominence[r],
                                  width=min_width)
        mine = ours["row"] == r
        np.testing.assert_array_equal(ours["position"][mine], peaks)
        np.testing.assert_array_equal(ours["height"][mine], props["peak_heights"])
        np.testing.assert_array_equal(ours["prominence"][mine], props["prominences"])
        np.testing.assert_array_equal(ours["half_width"][mine], props["widths"])
        full = peak_widths(y[r], peaks, rel_height=0.95,
                           prominence_data=(props["prominences"], props["left_bases"],
                                            props["right_bases"]))[0]
        np.testing.assert_array_equal(ours["full_width"][mine], full)
    return ours


@pytest.mark.parametrize("seed", range(6))
def test_peaks_equal_scipy_find_peaks(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, (12, 400)).cumsum(axis=1)
    y[:, 50:60] = np.round(y[:, 50:60])  # plateaus
    y[3, 100:110] = 50.0
    y[5, :3] = y[5, 3] + 1  # a plateau on the first samples: no peak there
    height = rng.uniform(-5, 5, 12)
    prominence = rng.uniform(0.5, 4, 12)
    assert_scipy_peaks(y, height, prominence, 2.0)


@pytest.mark.filterwarnings("ignore::scipy.signal._peak_finding_utils.PeakPropertyWarning")
def test_peaks_of_short_flat_and_quantised_rows_equal_scipy():
    rng = np.random.default_rng(7)
    for n in range(6):
        y = rng.integers(0, 3, (20, n)).astype(np.float64)  # plateaus everywhere
        assert_scipy_peaks(y, np.full(20, 0.5), np.full(20, 0.5), 0.0)
    y = np.zeros((2, 50))
    y[1, 20:23] = [1.0, 3.0, 1.0]
    assert assert_scipy_peaks(y, np.zeros(2), np.zeros(2), 0.0)["position"].tolist() == [21.0]


def test_peaks_of_pmt_like_waveforms_equal_scipy():
    """Pulses on noise after the moving average, with the experiment's thresholds."""
    rng = np.random.default_rng(3)
    p = PmtParams()
    t = np.arange(1024)
    y = rng.normal(0.0, 4.0, (300, 1024))
    for r in rng.choice(300, 100, replace=False):
        for _ in range(rng.integers(1, 4)):
            t0, amp = rng.uniform(150, 900), rng.uniform(30, 400)
            y[r] += amp * np.exp(-0.5 * ((t - t0) / 8.0) ** 2)
    y = moving_average(y, p.moving_average)
    rms = y[:, : p.baseline_samples].std(axis=1)
    found = assert_scipy_peaks(y, p.height_rms * rms, y.max(axis=1) / 4.0, p.min_width)
    assert found["row"].size > 100


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


def test_drs4_channels_are_the_experiments():
    from cygno_mw.gpu.pmt_waveforms import drs4_channels

    offsets = np.array([-0.3, 0.0, -0.29, -0.31, 0.2, -0.3, -0.4, -0.26] + [-0.3] * 24)
    assert drs4_channels(offsets, already_corrected=False).tolist() == [0, 2, 3, 5, 7]
    assert drs4_channels(offsets, already_corrected=True).tolist() == []


def _spiky(rng, n_trig=3, n_samp=1024):
    """Fast-board-like waveforms: baseline ~1630 ADU, noise 3, a negative PMT pulse on
    channel 2; DRS4 spikes (1- and 2-sample dips of 40-80 ADU) in all 8 corrected channels
    at the same samples; and rising steps that an unsigned difference would call spikes."""
    wf = 1630 + rng.normal(0, 3, (n_trig, 8, n_samp))
    t = np.arange(n_samp)
    wf[:, 2] -= 300 * np.exp(-0.5 * ((t - 500) / 6.0) ** 2)
    spikes = {0: [(120, 1), (700, 2)], 1: [(33, 1)], 2: [(900, 2)]}
    for trig, places in spikes.items():
        for start, width in places:
            wf[trig, :, start : start + width] -= rng.uniform(40, 80, (8, 1))
    return np.rint(wf).astype(np.uint16), spikes


def test_drs4_spikes_are_removed_without_wrap_around():
    from cygno_mw.gpu.pmt_waveforms import remove_drs4_spikes

    rng = np.random.default_rng(3)
    raw, spikes = _spiky(rng)
    channels = np.arange(8)
    clean = remove_drs4_spikes(raw, channels)
    assert clean.dtype == np.float64
    for trig, places in spikes.items():
        for start, width in places:
            dip = clean[trig, :, start : start + width]
            around = 0.5 * (clean[trig, :, start - 1] + clean[trig, :, start + width])
            assert np.all(np.abs(dip - around[:, None]) < 1e-9)
    # nothing else changed: the pulse (one channel only) and its steep edges stay
    untouched = np.ones(raw.shape[-1], dtype=bool)
    for places in spikes.values():
        for start, width in places:
            untouched[start : start + width] = False
    np.testing.assert_array_equal(clean[..., untouched], raw[..., untouched].astype(float))
    assert clean[:, 2, 500].max() < 1400  # the pulse's minimum is still there
    # unsigned differences would see each sample above its neighbour as a 65 000 ADU dip
    rising = raw.copy()
    rising[:, :, 400] += 100  # an upward single-sample excursion in every channel
    again = remove_drs4_spikes(rising, channels)
    np.testing.assert_array_equal(again[:, :, 400], rising[:, :, 400].astype(float))
    assert np.any(rising[:, :, 399].astype(np.uint16) - rising[:, :, 400] > 30)  # the trap


def test_slow_board_has_its_own_defaults():
    from cygno_mw.gpu.pmt_waveforms import PmtParams

    slow, fast = PmtParams.slow(), PmtParams.fast()
    assert (slow.baseline_samples, slow.sample_ns) == (400, 4.0)
    assert (fast.baseline_samples, fast.sample_ns) == (100, pytest.approx(4 / 3))
