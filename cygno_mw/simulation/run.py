"""A whole simulated run written as a MIDAS file, with its truth sidecar.

File content, in order:

- begin-of-run ODB dump (`lime_like_odb`);
- one slow-control event per equipment (event IDs 3-6, see `slowcontrol`) at the start,
  then every `sc_period` seconds of run time, and once more before the end;
- per trigger one event, event ID 1 (`/Equipment/Trigger`), serial number = trigger
  index from 0, banks `CAM0` (uint16, rows × cols, row-major) and, with PMTs,
  `DGH0`/`DIG0` (`cygno_mw.banks.pmt`; one PMT trigger per camera signal);
- end-of-run ODB dump (`end_of_run_odb`).

Triggers are `trigger_period` seconds apart (LIME takes ≈0.3 images per second); MIDAS
timestamps are whole seconds from `start_time`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import UsageError
from cygno_mw.simulation.sensor import DEFAULT_CAMERA_SEED, FULL_FRAME, SensorModel
from cygno_mw.simulation.signals import SignalMix, TrueSignal

TRIGGER_EVENT_ID = 1
CAMERA_BANK = "CAM0"
MIDAS_SUFFIXES = (".mid", ".mid.lz4", ".mid.gz")


@dataclass
class SimulatedRun:
    """What `simulate_run` wrote."""

    path: Path
    truth_path: Path
    run_number: int
    events: int
    pedestal: bool
    seed: int
    camera_seed: int
    n_signals: int
    slow_control_events: int
    bytes_written: int
    seconds: float
    odb: dict[str, Any] = field(repr=False, default_factory=dict)
    pmt_truth_path: Path | None = None  # per pulse: event, board model, trigger, channel, ...


def simulate_run(
    path: str | Path,
    run_number: int,
    events: int,
    *,
    pedestal: bool = False,
    seed: int | None = None,
    mix: SignalMix | None = None,
    noise_level: float = 2.5,
    with_pmt: bool = True,
    with_slow_control: bool = True,
    camera_seed: int = DEFAULT_CAMERA_SEED,
    shape: tuple[int, int] = FULL_FRAME,
    exposure: float = 0.3,
    vignette_path: str | Path | None = None,
    drs4_tables_dir: str | Path | None = None,
    start_time: float | None = None,
    trigger_period: float = 3.0,
    sc_period: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
) -> SimulatedRun:
    """Write `events` triggers of a simulated LIME run to `path` (.mid, .mid.lz4, .mid.gz).

    `seed` (default: the run number) drives signals, noise and PMTs; `camera_seed` the
    pedestal/noise maps, so pedestal and physics runs of one camera match.
    """
    from cygno_mw.banks.pmt import encode_pmt_banks, load_drs4_tables
    from cygno_mw.midasfile.writer import MidasWriter
    from cygno_mw.simulation.camera import CameraSimulator
    from cygno_mw.simulation.odb import default_start_time, end_of_run_odb, lime_like_odb
    from cygno_mw.simulation.pmt import PmtSimulator
    from cygno_mw.simulation.slowcontrol import slow_control_events
    from cygno_mw.simulation.truth import save_truth, truth_path_for
    from cygno_mw.vignetting import load_vignette_map

    _check(run_number, events, seed, camera_seed, noise_level, exposure, trigger_period)
    if not Path(path).name.lower().endswith(MIDAS_SUFFIXES):
        raise UsageError(f"{path}: a MIDAS file name ends in {', '.join(MIDAS_SUFFIXES)}")
    began = time.perf_counter()
    path = Path(path)
    seed = int(run_number if seed is None else seed)
    mix = mix if mix is not None else SignalMix()
    start = float(default_start_time(run_number) if start_time is None else start_time)
    camera_stream, pmt_stream = np.random.SeedSequence([seed, 0xC4]).spawn(2)

    sensor = SensorModel.generate(camera_seed, shape, noise_level=noise_level)
    camera = CameraSimulator(sensor, load_vignette_map(vignette_path, shape), mix,
                             seed=_int_seed(camera_stream), exposure=exposure)
    pmt = PmtSimulator(_int_seed(pmt_stream), shape=shape,
                       tables=load_drs4_tables(drs4_tables_dir)) if with_pmt else None
    description = ("Simulated pedestal run" if pedestal
                   else f"Simulated physics run: {mix.describe()}")
    odb = lime_like_odb(run_number, pedestal=pedestal, exposure=exposure, start_time=start,
                        description=description, pmt_acquisition=with_pmt, sc_seed=seed,
                        compression=_compression_name(path))
    truth: dict[int, list[TrueSignal]] = {}
    pulses: list[dict[str, Any]] = []
    sc_serials: dict[int, int] = {}

    def write_slow_control(writer: Any, t: float) -> None:
        for layout, banks in slow_control_events(t, seed=seed):
            serial = sc_serials.get(layout.event_id, 0)
            writer.write(layout.event_id, banks, serial_number=serial, timestamp=int(t))
            sc_serials[layout.event_id] = serial + 1

    with MidasWriter(path, run_number, odb) as writer:
        next_sc = start
        for index in range(events):
            t_event = start + 1.0 + index * trigger_period
            if with_slow_control and t_event >= next_sc:
                write_slow_control(writer, next_sc)
                next_sc += sc_period
            image, signals = camera.image(pedestal=pedestal)
            banks: dict[str, np.ndarray] = {CAMERA_BANK: image.reshape(-1)}
            if pmt is not None:
                banks.update(encode_pmt_banks(pmt.event_boards(signals, t_event - start)))
                pulses.extend({"event": index, **p} for p in pmt.pulse_truth)
            writer.write(TRIGGER_EVENT_ID, banks, serial_number=index, timestamp=int(t_event))
            truth[index] = signals
            if progress is not None:
                progress(index + 1, events)
        stop = start + 1.0 + events * trigger_period
        if with_slow_control:
            write_slow_control(writer, stop)
        written = writer.bytes_written
        writer.odb = end_of_run_odb(odb, stop_time=stop, events=events,
                                    bytes_written=written, sc_seed=seed)

    truth_path = save_truth(truth_path_for(path), truth, shape=shape, metadata={
        "run_number": int(run_number), "pedestal": bool(pedestal), "seed": seed,
        "camera_seed": int(camera_seed), "mix": mix.describe(), "noise_level": noise_level,
        "exposure": exposure, "midas_file": path.name,
    })
    pmt_truth_path = None
    if pulses:  # beside the signal truth: runNNNNN.pmt.truth.parquet
        import pandas as pd

        pmt_truth_path = truth_path.with_name(truth_path.name.replace(".truth.", ".pmt.truth."))
        pd.DataFrame(pulses).to_parquet(pmt_truth_path, index=False)
    return SimulatedRun(
        path=path, truth_path=truth_path, pmt_truth_path=pmt_truth_path,
        run_number=int(run_number), events=int(events),
        pedestal=bool(pedestal), seed=seed, camera_seed=int(camera_seed),
        n_signals=sum(len(s) for s in truth.values()),
        slow_control_events=sum(sc_serials.values()), bytes_written=written,
        seconds=time.perf_counter() - began, odb=odb,
    )


def _int_seed(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1, np.uint64)[0])


def _compression_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".lz4"):
        return "lz4"
    if name.endswith(".gz"):
        return "gzip"
    return "none"


def _check(run_number: int, events: int, seed: int | None, camera_seed: int,
           noise_level: float, exposure: float, trigger_period: float) -> None:
    if not 0 <= int(run_number) < 2**31:
        raise UsageError(f"run number must be in [0, 2**31), got {run_number}")
    if int(events) < 0:
        raise UsageError(f"number of events must be >= 0, got {events}")
    for name, value in (("seed", seed), ("camera seed", camera_seed)):
        if value is not None and int(value) < 0:
            raise UsageError(f"{name} must be >= 0, got {value}")
    if not noise_level >= 0:
        raise UsageError(f"noise level must be >= 0 ADU, got {noise_level}")
    if not exposure > 0 or not trigger_period > 0:
        raise UsageError("exposure and trigger period must be > 0 s")
