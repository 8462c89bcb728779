"""PMT banks (DGH0/DIG0): layout, round trip for both boards, DRS4 offsets, simulation."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.banks.pmt import (
    V1720,
    V1742,
    BoardData,
    PmtBankError,
    builtin_drs4_tables,
    decode_pmt_banks,
    encode_pmt_banks,
    load_drs4_tables,
)
from cygno_mw.gpu.pmt_waveforms import drs4_correct
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.pmt import PMT_CHANNELS, PmtSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix

SHAPE = (256, 256)


def _boards(n_events: int, rng: np.random.Generator) -> list[BoardData]:
    fast = BoardData(
        V1742, rng.integers(0, 4096, (n_events, 32, 1024)).astype(np.uint16),
        trigger_tags=rng.integers(0, 2**30, n_events), start_cells=rng.integers(0, 1024, n_events),
        offsets=[-0.5] + [-0.3] * 7 + [0.0] * 24, sampling_rate=750)
    slow = BoardData(
        V1720, rng.integers(0, 4096, (n_events, 8, 4000)).astype(np.uint16),
        trigger_tags=rng.integers(0, 2**31, n_events), offsets=[-0.45] + [0.0] * 7,
        sampling_rate=250)
    return [fast, slow]


def correct_fast_board(waveforms, start_cells, tables):
    """The reconstruction's DRS4 correction on the channels the tables cover (the first 8);
    the V1742's other channels carry no offsets and pass unchanged."""
    corrected = np.asarray(waveforms).astype(np.float32)
    n = tables.cell.shape[0]
    corrected[:, :n] = drs4_correct(corrected[:, :n], start_cells, tables.cell, tables.nsample)
    return corrected


@pytest.mark.parametrize("versioned", [False, True])
@pytest.mark.parametrize("n_events", [0, 1, 3])
def test_round_trip_both_boards(versioned, n_events):
    boards = _boards(n_events, np.random.default_rng(n_events))
    banks = encode_pmt_banks(boards, versioned=versioned)
    assert banks["DGH0"].dtype == np.uint32 and banks["DIG0"].dtype == np.uint16
    back = decode_pmt_banks(banks["DGH0"], banks["DIG0"])
    assert [b.model for b in back] == [V1742, V1720]
    for written, read in zip(boards, back, strict=True):
        assert read.waveforms.shape == written.waveforms.shape
        assert np.array_equal(read.waveforms, written.waveforms)
        assert np.array_equal(read.trigger_tags, written.trigger_tags)
        assert np.allclose(read.offsets, written.offsets, atol=1e-4)
        assert (read.adc_max, read.sampling_rate) == (4096, written.sampling_rate)
    assert np.array_equal(back[0].start_cells, boards[0].start_cells)
    assert back[1].start_cells is None


def test_header_words_follow_the_experiments_layout():
    """Word positions as the cygno library's daq_dgz_full2header walks them."""
    boards = _boards(2, np.random.default_rng(0))
    header = encode_pmt_banks(boards)["DGH0"]
    assert header[0] == 2  # boards
    assert list(header[1:7]) == [1742, 1024, 32, 2, 4096, 750]
    assert header[7 + 1] == round(-0.3 * 65536 + 32768)  # channel offsets
    after_offsets = 7 + 32
    assert list(header[after_offsets:after_offsets + 2]) == list(boards[0].trigger_tags)
    assert list(header[after_offsets + 2:after_offsets + 4]) == list(boards[0].start_cells)
    slow = after_offsets + 4
    assert list(header[slow:slow + 6]) == [1720, 4000, 8, 2, 4096, 250]
    assert header.size == slow + 6 + 8 + 2  # no start cells for the V1720
    versioned = encode_pmt_banks(boards, versioned=True)["DGH0"]
    assert versioned[0] == 1000 and versioned[1] == 2


def test_bad_banks_are_clear_errors():
    banks = encode_pmt_banks(_boards(2, np.random.default_rng(1)))
    with pytest.raises(PmtBankError, match="DIG0"):
        decode_pmt_banks(banks["DGH0"], banks["DIG0"][:-10])
    with pytest.raises(PmtBankError, match="DGH0"):
        decode_pmt_banks(banks["DGH0"][:-3], banks["DIG0"])
    with pytest.raises(PmtBankError):
        decode_pmt_banks(np.zeros(0, np.uint32), banks["DIG0"])
    with pytest.raises(PmtBankError, match="trigger tags"):
        BoardData(V1720, np.zeros((2, 8, 10), np.uint16), trigger_tags=[1])


def test_drs4_tables_real_and_builtin(shared_data, tmp_path):
    real = load_drs4_tables(shared_data / "pmt")
    assert real.cell.shape == real.nsample.shape == (8, 1024)
    assert real.source != "built-in"
    fallback = load_drs4_tables(tmp_path)
    assert fallback.source == "built-in" and fallback.cell.shape == (8, 1024)
    assert load_drs4_tables(None).source == "built-in"


def test_drs4_correction_inverts_the_offsets():
    tables = builtin_drs4_tables()
    rng = np.random.default_rng(3)
    true = rng.normal(3000.0, 2.0, (4, 32, 1024))
    cells = rng.integers(0, 1024, 4)
    raw = true + np.stack([tables.offsets(int(c), 32) for c in cells])
    corrected = correct_fast_board(raw, cells, tables)
    assert np.allclose(corrected, true, atol=1e-2)
    assert np.array_equal(corrected[:, 8:], raw[:, 8:].astype(np.float32))


@pytest.fixture(scope="module")
def simulated(shared_data):
    tables = load_drs4_tables(shared_data / "pmt")
    sensor = SensorModel.generate(1, SHAPE)
    mix = SignalMix(fe55=3, muon=1, nr=1, er=0)
    _, truth = CameraSimulator(sensor, mix=mix, seed=2).image()
    boards = PmtSimulator(5, shape=SHAPE, tables=tables).event_boards(truth, 100.0)
    banks = encode_pmt_banks(boards)
    return truth, decode_pmt_banks(banks["DGH0"], banks["DIG0"]), tables


def test_simulated_boards_follow_camera_signals(simulated):
    truth, (fast, slow), _ = simulated
    assert (fast.model, fast.n_events, fast.n_channels, fast.n_samples) == (
        V1742, len(truth), 32, 1024)
    assert (slow.model, slow.n_events, slow.n_channels, slow.n_samples) == (
        V1720, len(truth), 8, 4000)
    assert [s.pmt_event for s in truth] == list(range(len(truth)))
    assert np.all(np.diff(fast.trigger_tags.astype(np.int64)) >= 0)  # time ordered
    assert fast.waveforms.max() < 4096 and slow.waveforms.max() < 4096


def test_corrected_fast_waveforms_match_truth(simulated):
    truth, (fast, slow), tables = simulated
    corrected = correct_fast_board(fast.waveforms, fast.start_cells, tables)
    quiet = corrected[:, 6]  # a channel without PMT, inside the tables
    raw_quiet = fast.waveforms[:, 6].astype(np.float64)
    assert quiet.std(axis=1).max() < 4.0 < raw_quiet.std(axis=1).min()
    for signal in truth:
        if signal.kind == "muon":
            continue  # longer than the fast window
        waves = corrected[signal.pmt_event, list(PMT_CHANNELS)]
        baseline = np.median(waves[:, :300], axis=1)
        area = (baseline[:, None] - waves).sum(axis=1)
        noise = 5 * 2.5 * np.sqrt(1024)
        assert np.allclose(area, signal.pmt_charge, atol=noise + 0.03 * signal.pmt_charge.max())
        slow_waves = slow.waveforms[signal.pmt_event, list(PMT_CHANNELS)].astype(float)
        assert np.all(slow_waves.min(axis=1) < np.median(slow_waves, axis=1) - 10)


def test_channel_0_carries_no_drs4_offsets_and_pulses_have_truth(shared_data):
    """Only the channels the experiment corrects (offset about -0.3) get DRS4 offsets;
    channel 0 (offset -0.5) is plain noise on its baseline.  Every pulse's time, integral
    and amplitude are recorded."""
    tables = load_drs4_tables(shared_data / "pmt")
    sensor = SensorModel.generate(1, SHAPE)
    _, truth = CameraSimulator(sensor, mix=SignalMix(fe55=3, muon=0, nr=0, er=0),
                               seed=4).image()
    sim = PmtSimulator(6, shape=SHAPE, tables=tables)
    fast = sim.event_boards(truth, 10.0)[0]
    channel0 = fast.waveforms[:, 0].astype(np.float64)
    assert channel0.std(axis=1).max() < 4.0  # noise 2.5 only: no cell offsets (σ ≈ 30)
    pulses = [p for p in sim.pulse_truth if p["model"] == V1742]
    assert len(pulses) == len(truth) * len(PMT_CHANNELS)
    dt = 1000.0 / 750
    for p in pulses:
        assert 0.35 * 1024 * dt <= p["time_ns"] <= 0.45 * 1024 * dt
        assert p["integral"] > 0 and p["amplitude"] > 0
        signal = truth[p["trigger"]]
        charge = signal.pmt_charge[PMT_CHANNELS.index(p["channel"])] * dt
        assert p["integral"] == pytest.approx(charge, rel=0.05)
