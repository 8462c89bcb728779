"""The `pmt` table: rows of one pass, replaced when the run is processed again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.analyzers.waveform_analysis import PmtAnalysis
from cygno_mw.analyzers.waveform_params import PmtAnalysisParams
from cygno_mw.banks.pmt import encode_pmt_banks
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.pmt import PmtSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 512)


def _event_rows(seed: int) -> list[dict]:
    sensor = SensorModel.generate(1, SHAPE)
    _, truth = CameraSimulator(sensor, mix=SignalMix(fe55=2, muon=0, nr=0, er=0),
                               seed=seed).image()
    banks = encode_pmt_banks(PmtSimulator(seed, shape=SHAPE).event_boards(truth, 1.0))
    odb = {"Configurations": {"DRS4Correction": False}}
    return PmtAnalysis(PmtAnalysisParams(), odb).rows(banks)


def test_pmt_rows_round_trip_and_are_replaced(sql_url: str) -> None:
    rows = _event_rows(3)
    assert {r["pmt_peak_Number"] for r in rows} >= {0, 1}
    with SqlSink(sql_url, pass_name="p") as sink:
        sink.begin_run(5)
        sink.write_pmt(5, 0, rows)
        sink.write_pmt(5, 1, rows)
    with SqlSink(sql_url, pass_name="p") as sink:  # processed again: only event 0 now
        sink.begin_run(5)
        sink.write_pmt(5, 0, rows[:3])
    engine = sa.create_engine(sql_url)
    try:
        stored = pd.read_sql(sa.text("SELECT * FROM pmt ORDER BY board, pmt_wf_trigger, "
                                     "pmt_wf_channel, pmt_peak_Number"), engine)
    finally:
        engine.dispose()
    assert set(stored.event) == {0} and len(stored) == 3 and set(stored.pass_name) == {"p"}
    first = stored.iloc[0]
    assert first.pmt_wf_channel == rows[0]["pmt_wf_channel"]
    assert np.isclose(first.pmt_wf_RMS, rows[0]["pmt_wf_RMS"])


def test_the_digitizers_own_correction_is_respected() -> None:
    sensor = SensorModel.generate(1, SHAPE)
    _, truth = CameraSimulator(sensor, mix=SignalMix(fe55=1, muon=0, nr=0, er=0),
                               seed=2).image()
    banks = encode_pmt_banks(PmtSimulator(2, shape=SHAPE).event_boards(truth, 1.0))
    ours = PmtAnalysis(PmtAnalysisParams(), {"Configurations": {"DRS4Correction": False}})
    theirs = PmtAnalysis(PmtAnalysisParams(), {"Configurations": {"DRS4Correction": True}})
    fast = [r for r in ours.rows(banks) if r["model"] == 1742 and r["pmt_peak_Number"] == 0]
    kept = [r for r in theirs.rows(banks) if r["model"] == 1742 and r["pmt_peak_Number"] == 0]
    assert all(r["drs4_corrected"] for r in fast) and not any(r["drs4_corrected"] for r in kept)
    # uncorrected DRS4 offsets (sigma ~30 ADC per cell) make the baseline far noisier
    assert max(r["pmt_wf_RMS"] for r in fast) < min(r["pmt_wf_RMS"] for r in kept)
