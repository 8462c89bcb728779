"""The processing core without a file: what the online analyzer will drive from the buffer.

Events are built in memory (two cameras, 512x512 frames), a pedestal run and a physics run
go through one RunProcessor, and an event of another run is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cygno_mw.analyzers.background import ReadAhead, SerialWorker
from cygno_mw.analyzers.events import DecodedEvent, camera_images
from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.analyzers.pedestal_store import PedestalChoice
from cygno_mw.analyzers.reco_engine import InlineEngine
from cygno_mw.analyzers.run_info import begin_of_run_fields, high_voltages
from cygno_mw.analyzers.run_processor import RunProcessor
from cygno_mw.analyzers.sinks import ResultSinks
from cygno_mw.errors import CygnoError
from cygno_mw.gpu.params import RecoParams
from cygno_mw.simulation.camera import CameraSimulator
from cygno_mw.simulation.sensor import SensorModel
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 512)


def cameras() -> dict[int, CameraSimulator]:
    return {n: CameraSimulator(SensorModel.generate(100 + n, SHAPE), mix=SignalMix(
        fe55=3, muon=0, nr=0, er=0), seed=n) for n in (0, 1)}


def events(run: int, count: int, pedestal: bool, sims: dict) -> list[DecodedEvent]:
    out = []
    for serial in range(count):
        banks = {f"CAM{n}": sim.image(pedestal=pedestal)[0].reshape(-1)
                 for n, sim in sims.items()}
        out.append(DecodedEvent(run, serial, 1, 1_700_000_000 + serial, banks))
    return out


def test_pedestal_then_physics_run_from_memory(tmp_path: Path) -> None:
    output = OutputParams(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                          output_dir=str(tmp_path))
    reco = RecoParams(xmax=512, ymin=0, ymax=512, backend="numpy")
    params = AnalyzerParameters(reco, output)
    sinks = ResultSinks(output)
    engine = InlineEngine(reco)

    def resolve(run: int, camera: int) -> PedestalChoice:
        return PedestalChoice(camera, sinks.pedestals.map_path(5, camera), "run 5", 5)

    processor = RunProcessor(params, sinks, engine, pedestals=resolve)
    sims = cameras()
    processor.begin_run(5, {"Configurations": {"Pedestal": True}})
    for event in events(5, 3, True, sims):
        processor.process(event)
    pedestal_summary = processor.end_run()
    assert pedestal_summary.pedestal_run and pedestal_summary.images == 6

    processor.begin_run(6, {"Runinfo": {"Start time binary": 1_700_000_000}})
    for event in [*events(6, 2, False, sims), *events(7, 1, False, sims)]:
        processor.process(event)
    summary = processor.end_run()
    sinks.close()

    assert summary.images == 4 and summary.foreign_events == 1
    assert summary.clusters >= 8 and summary.reco_status == "done"
    with Database(output.database_url) as db:
        macro = db.macro(6)
        assert sorted(zip(macro["camera"], macro["event"], strict=True)) == [
            (0, 0), (0, 1), (1, 0), (1, 1)]
        assert list(db.pedestals()["camera"]) == [0, 1]
        assert db.runs(6).loc[0, "reco_status"] == "done"
        assert 7 not in set(db.runs()["run"])
    assert (tmp_path / "reco" / "run00006_reco_replay.parquet").is_file()


def test_camera_images_in_camera_order() -> None:
    event = DecodedEvent(1, 0, 1, 0, {"CAM1": np.zeros(4), "DGH0": np.zeros(2),
                                      "CAM0": np.ones(4), "CAMX": np.zeros(1)})
    assert [camera for camera, _ in camera_images(event)] == [0, 1]


def test_run_fields_tolerate_a_sparse_odb() -> None:
    assert begin_of_run_fields(3, None) == {"run": 3}
    odb = {"Equipment": {"HV": {"Settings": {"Names": ["VGEM1", "Drift"]},
                                "Variables": {"Demand": [410.0]}}}}
    assert high_voltages(odb) == {"gem1_v": 410.0}


def test_read_ahead_keeps_the_error_after_the_items() -> None:
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    reader = ReadAhead(items(), depth=1)
    assert list(reader) == [1, 2]
    assert isinstance(reader.error, OSError)


def test_serial_worker_raises_its_first_error() -> None:
    worker = SerialWorker(depth=2)
    done = []
    worker.submit(done.append, 1)
    worker.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        worker.close()
    assert done == [1]


@pytest.mark.parametrize("file_format", ["parquet", "root"])
def test_reco_file_of_a_run_without_images(tmp_path: Path, file_format: str) -> None:
    from cygno_mw.analyzers.reco_file import RecoFileWriter

    path = RecoFileWriter(tmp_path / f"empty.{file_format}", file_format).close()
    if file_format == "parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        assert len(frame) == 0 and "sc_integral" in frame.columns
    else:
        import uproot

        with uproot.open(path) as root_file:
            assert root_file["Events"].num_entries == 0


def test_vignette_map_parameter_names_the_acceptance_map(tmp_path: Path) -> None:
    from cygno_mw.analyzers.reco_engine import make_engine, vignette_for
    from cygno_mw.vignetting import builtin_vignette_map

    assert vignette_for("none", (8, 8)) is None
    assert np.array_equal(vignette_for("builtin", (8, 8)), builtin_vignette_map((8, 8)))
    junk = tmp_path / "map.root"
    junk.write_bytes(b"not a ROOT file")
    with pytest.raises(CygnoError, match=r"map\.root"):
        vignette_for(str(junk), (8, 8))
    params = RecoParams(backend="numpy", vignette_map="none")
    assert make_engine(params).params.vignette_map == "none"
