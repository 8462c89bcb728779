"""The PMT analysis of one event: DGH0/DIG0 banks in, `pmt` table rows out.

Per board (`cygno_mw.banks.pmt`): on the fast V1742, DRS4 offsets are removed from the
channels the experiment corrects (first 8 with a DC offset about -0.3), unless the run's ODB
says the digitizer already did (/Configurations/DRS4Correction; a run without the key is
taken as corrected, as the experiment does), then DRS4 spikes are removed on those channels;
then the analysed channels (`Pmt/channels`) of every trigger go through
`gpu.pmt_waveforms.analyse_waveforms` with the board's own parameters (fast_* or slow_*).

Rows: per (trigger, board, channel) one row with pmt_peak_Number 0 holding the waveform's
variables, and one row per peak (1..n) holding the peak's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cygno_mw.analyzers.waveform_params import PmtAnalysisParams
from cygno_mw.banks.pmt import V1720, V1742, Drs4Tables, decode_pmt_banks, load_drs4_tables
from cygno_mw.gpu.pmt_waveforms import (
    analyse_waveforms,
    drs4_channels,
    drs4_correct,
    remove_drs4_spikes,
)
from cygno_mw.midasfile.odbdump import odb_get

PMT_BANKS = ("DGH0", "DIG0")
_BOARD_KIND = {V1742: "fast", V1720: "slow"}


def has_pmt_banks(banks: Mapping[str, Any]) -> bool:
    return all(name in banks for name in PMT_BANKS)


def digitizer_corrected(odb: Mapping[str, Any] | None) -> bool:
    """The run's /Configurations/DRS4Correction (True when absent, as the experiment)."""
    if not odb:
        return True
    return bool(odb_get(odb, "/Configurations/DRS4Correction", True))


class PmtAnalysis:
    """Holds the run's settings and tables; `rows(banks)` analyses one event."""

    def __init__(self, params: PmtAnalysisParams, odb: Mapping[str, Any] | None) -> None:
        self.params = params
        self.already_corrected = digitizer_corrected(odb)
        self.tables: Drs4Tables = load_drs4_tables(params.drs4_tables or None,
                                                   params.drs4_site)
        self.boards = {kind: params.board(kind) for kind in ("fast", "slow")}

    def rows(self, banks: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        boards = decode_pmt_banks(banks["DGH0"], banks["DIG0"])
        for index, board in enumerate(boards):
            kind = _BOARD_KIND.get(board.model)
            if kind is None or board.n_events == 0:
                continue
            waves = board.waveforms.astype(np.float32)
            corrected = np.zeros(0, dtype=np.int64)
            if board.model == V1742:
                corrected = drs4_channels(board.offsets, self.already_corrected,
                                          self.tables.cell.shape[0])
                if corrected.size:
                    waves[:, corrected] = drs4_correct(
                        waves[:, corrected], board.start_cells, self.tables.cell,
                        self.tables.nsample, channels=corrected)
                    waves = remove_drs4_spikes(waves, corrected)
            channels = [c for c in self.params.channel_list if c < board.n_channels]
            if not channels:
                continue
            analysis = analyse_waveforms(waves[:, channels], self.boards[kind])
            out.extend(_board_rows(index, board, kind, channels, corrected, analysis,
                                   self.boards[kind].sample_ns))
        return out


def _board_rows(index: int, board: Any, kind: str, channels: list[int],
                corrected: np.ndarray, analysis: Any, sample_ns: float) -> list[dict[str, Any]]:
    n_peaks = analysis.n_peaks
    fixed = set(corrected.tolist())
    rows = []
    for trigger in range(board.n_events):
        for k, channel in enumerate(channels):
            rows.append({
                "board": index, "pmt_wf_trigger": trigger, "pmt_wf_channel": channel,
                "pmt_peak_Number": 0, "model": int(board.model),
                "pmt_wf_sampling": int(board.n_samples),
                "pmt_wf_TTT": float(board.trigger_tags[trigger]),
                "pmt_wf_baseline": float(analysis.processed_baseline[trigger, k]),
                "pmt_wf_RMS": float(analysis.rms[trigger, k]),
                "pmt_wf_tot_integral": float(analysis.integral[trigger, k]),
                "pmt_wf_max_ampl": float(analysis.max_amplitude[trigger, k]),
                "pmt_wf_nPeaks": int(n_peaks[trigger, k]),
                "pmt_TOT_time": float(analysis.tot_time[trigger, k]),
                "pmt_TOT_area": float(analysis.tot_area[trigger, k]),
                "baseline_adc": float(analysis.baseline[trigger, k]),
                "drs4_corrected": channel in fixed,
            })
    peaks = analysis.peaks
    number: dict[tuple[int, int], int] = {}
    order = np.lexsort((peaks["position"], peaks["channel"], peaks["trigger"]))
    for i in order.tolist():
        trigger, k = int(peaks["trigger"][i]), int(peaks["channel"][i])
        key = (trigger, k)
        number[key] = number.get(key, 0) + 1
        rows.append({
            "board": index, "pmt_wf_trigger": trigger, "pmt_wf_channel": channels[k],
            "pmt_peak_Number": number[key], "model": int(board.model),
            "pmt_peak_Position": float(peaks["position"][i]),
            "pmt_peak_Height": float(peaks["height"][i]),
            "pmt_peak_HalfWidth": float(peaks["half_width"][i]),
            "pmt_peak_FullWidth": float(peaks["full_width"][i]),
            "peak_time_ns": float(peaks["position"][i]) * sample_ns,
            "peak_prominence": float(peaks["prominence"][i]),
        })
    return rows
