"""Bench: the camera frontend and the online analyzer on a real MIDAS, vs bare reconstruction.

    .venv/bin/python bench/online.py [--seconds 20] [--small]

A private MIDAS experiment (the build $MIDASSYS names, else ../shared/midas, set up as
the `midas` tests do: odbinit, `cygno-mw odb install`, mhttpd) runs the real programs as
processes of their own, on CPU:

1. the camera frontend (sim driver, unpaced, full 2304x2304 frames of 10.6 MB) alone: its
   rate into the real SYSTEM buffer (nobody reads it, so nothing holds it back);
2. camera frontend -> SYSTEM -> online analyzer (GET_ALL: the frontend waits for the
   analyzer, so the chain runs at the analyzer's rate; NumPy backend, SQLite): a pedestal run,
   then a physics run of `--seconds`; the analyzer's events/s over the run.

The reference, measured in this process on the same simulated images with the pedestal
maps the analyzer made, is `Reconstructor.process` alone: the ratio says what the
middleware costs on top of the reconstruction (goal >= 0.8).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from live_midas import wait_for  # noqa: E402
from midas_bundle import find_midassys, missing_reason  # noqa: E402
from midas_experiment import MidasExperiment  # noqa: E402

from cygno_mw.odb_install import cygno_mw_command  # noqa: E402

ANALYZER = "Online Analyzer"
CAMERA = "Camera Frontend 0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="physics run length")
    parser.add_argument("--small", action="store_true", help="256x512 frames instead of full")
    args = parser.parse_args()

    midassys = find_midassys()
    if midassys is None:
        print(missing_reason())
        return 2
    command = shlex.split(cygno_mw_command())
    camera = {"Frame rate": 0.0, "Sim pool": 4}
    reco: dict = {"vignette_map": "none", "backend": "numpy"}
    if args.small:
        camera.update({"ROI width": 512, "ROI height": 256, "ROI x0": 64, "ROI y0": 128})
        reco.update({"xmax": 512, "ymin": 0, "ymax": 256})

    def install(experiment: MidasExperiment) -> None:
        subprocess.run([*command, "odb", "install"], env=experiment.env, check=True,
                       cwd=experiment.directory, capture_output=True)
        crew = experiment.crew
        crew.odb_set("/Equipment/Camera0/Settings", camera, remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Parameters/Reco", reco, remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Parameters/Output/reco_file_format", "none")
        crew.odb_set("/Analyzer/Online/Sampling", "GET_ALL")  # every event, the chain's rate

    experiment = MidasExperiment(midassys,
                                 Path(tempfile.mkdtemp(prefix="cygno-bench-online-")))
    try:
        experiment.start(install)
        crew = experiment.crew
        experiment.jsonrpc("cm_shutdown", {"name": "Logger", "unique": True})  # no disk writes
        frontend = experiment.spawn([*command, "frontend", "camera", "-i", "0"], "camera")
        wait_for(lambda: CAMERA in experiment.client_pids(), 120, "the camera frontend")

        # 1. the frontend alone into the real buffer
        crew.start_run()
        crew.wait(args.seconds / 2)
        crew.stop_run()
        crew.wait(4.0)  # MIDAS's frontend loop writes its statistics every 3 s
        sent = float(crew.odb_get("/Equipment/Camera0/Statistics/Events sent"))
        frontend_rate = sent / (args.seconds / 2)

        # 2. frontend -> SYSTEM -> online analyzer
        analyzer = experiment.spawn([*command, "analyzer", "online"], "analyzer")
        wait_for(lambda: ANALYZER in experiment.client_pids(), 120, "the analyzer")
        take_run(crew, pedestal=True, seconds=3.0)
        started = time.perf_counter()
        run = take_run(crew, pedestal=False, seconds=args.seconds)
        seconds = time.perf_counter() - started
        last = crew.odb_get("/Analyzer/Reco/Last run")
        analyzed = int(last["Events analyzed"])
        assert int(last["Run"]) == run
        experiment.jsonrpc("cm_shutdown", {"name": ANALYZER, "unique": True})
        experiment.jsonrpc("cm_shutdown", {"name": CAMERA, "unique": True})
        for process in (analyzer, frontend):
            process.wait(timeout=60)
        online_rate = analyzed / seconds
        bare_rate, shape = reference_rate(experiment.directory, camera, reco, analyzed)
    finally:
        experiment.stop()

    print(f"frames {shape}, backend numpy, {analyzed} physics events in {seconds:.1f} s")
    print(f"camera frontend into the real SYSTEM buffer:      {frontend_rate:.1f} events/s "
          f"({frontend_rate * shape_bytes(shape) / 1e6:.0f} MB/s; goal >= 50)")
    print(f"online analyzer (frontend + buffer + reco + SQL): {online_rate:.2f} events/s")
    print(f"bare Reconstructor.process (reference):          {bare_rate:.2f} events/s")
    print(f"ratio online / reference: {online_rate / bare_rate:.2f} (goal >= 0.8)")
    return 0


def take_run(crew, pedestal: bool, seconds: float) -> int:
    """A run of `seconds`; returns once the analyzer has finished it."""
    crew.odb_set("/Configurations/Pedestal", pedestal)
    crew.start_run()
    run = int(crew.odb_get("/Runinfo/Run number"))
    crew.wait(seconds)
    crew.stop_run()
    wait_for(lambda: (crew.odb_get_or("/Analyzer/Reco/Last run") or {}).get("Run") == run,
             600, f"the analyzer to finish run {run}")
    return run


def reference_rate(directory: Path, camera: dict, reco: dict, events: int) -> tuple[float, str]:
    """Bare `Reconstructor.process` on the camera's simulated images, the analyzer's maps."""
    from cygno_mw.analyzers.parameters import AnalyzerParameters
    from cygno_mw.frontends.camera.settings import default_settings
    from cygno_mw.frontends.camera.sim_driver import SimCameraDriver
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor

    driver = SimCameraDriver({**default_settings(), **camera})
    driver.open()
    frames = []
    for image in driver.pool:
        if "ROI width" in camera:
            y0, x0 = camera["ROI y0"], camera["ROI x0"]
            image = image[y0:y0 + camera["ROI height"], x0:x0 + camera["ROI width"]]
        frames.append(image.copy())
    maps = PedestalMaps.load(directory / "cygno-out" / "pedestals" / "run00002_cam0.npz")
    params = AnalyzerParameters.defaults().updated("Reco", reco)
    rec = Reconstructor(params.reco, maps, None)
    rec.process(frames[0])
    count = max(1, min(events, 20))
    started = time.perf_counter()
    for i in range(count):
        rec.process(frames[i % len(frames)])
    return count / (time.perf_counter() - started), "x".join(str(n) for n in maps.shape)


def shape_bytes(shape: str) -> int:
    rows, cols = (int(n) for n in shape.split("x"))
    return rows * cols * 2


if __name__ == "__main__":
    sys.exit(main())
