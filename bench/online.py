"""Bench: the online analyzer's sustained rate through its real code path, vs bare reconstruction.

    .venv/bin/python bench/online.py [--events 12] [--small]

A simulated camera (the camera frontend's sim driver) fills the SYSTEM buffer of the MIDAS
stand-in (the real `midas` package when importable); a pedestal run and then a physics run go
through `OnlineAnalyzer` exactly as online: receive, label, decode, reconstruct, write SQL
(SQLite in a temporary folder).  The reference, measured in the same process on the same
images, is `Reconstructor.process` alone: the ratio says what the middleware costs on top of
the reconstruction.  Prints absolute events/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("midas") is None:
    sys.path.insert(0, str(REPO / "tests" / "midas_standin"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=12, help="physics events (camera 0)")
    parser.add_argument("--small", action="store_true", help="256x512 frames instead of full")
    args = parser.parse_args()

    import midas.client
    from midas import standin

    from cygno_mw.analyzers.online.analyzer import OnlineAnalyzer
    from cygno_mw.analyzers.parameters import AnalyzerParameters
    from cygno_mw.frontends.camera.equipment import CameraFrontend
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor

    tmp = Path(tempfile.mkdtemp(prefix="cygno-bench-online-"))
    standin.reset()
    crew = midas.client.MidasClient("crew")
    crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
    crew.odb_set("/Experiment/Buffer sizes/SYSTEM", 1024 * 1024 * 1024)
    camera = {"Frame rate": 0.0, "Sim pool": 4}
    reco: dict = {"vignette_map": "none"}
    if args.small:
        camera.update({"ROI width": 512, "ROI height": 256, "ROI x0": 64, "ROI y0": 128})
        reco.update({"xmax": 512, "ymin": 0, "ymax": 256})
    crew.odb_set("/Equipment/Camera0/Settings", camera, remove_unspecified_keys=False)
    params = AnalyzerParameters.defaults().updated("Reco", reco).updated("Output", {
        "database_url": f"sqlite:///{tmp / 'cygno.sqlite'}", "output_dir": str(tmp / "out"),
        "reco_file_format": "none"})
    crew.odb_set("/Analyzer/Parameters", params.to_odb())
    fe = CameraFrontend(0)
    crew.odb_set("/Analyzer/Online/Sampling", "GET_ALL")  # measure every event
    analyzer = OnlineAnalyzer(midas.client.MidasClient("Online Analyzer"))

    def take(pedestal: bool, passes: int) -> float:
        crew.odb_set("/Configurations/Pedestal", pedestal)
        started = time.perf_counter()
        crew.start_run()
        for _ in range(passes):
            standin.run_frontend(fe, 1)
            analyzer.poll(1000)
        crew.stop_run()
        while True:
            analyzer.processor.backlog.wait_empty()
            if analyzer.poll(1000) == 0:
                break
        analyzer.processor.backlog.wait_empty()
        return time.perf_counter() - started

    take(True, 5)
    seconds = take(False, args.events + 1)
    analyzed = int(crew.odb_get("/Analyzer/Reco/Last run/Events analyzed"))
    backend = analyzer.stats.backend
    images = [p.copy() for p in fe.camera.driver.pool]
    analyzer.close()

    maps = PedestalMaps.load(tmp / "out" / "pedestals" / "run00001_cam0.npz")
    rec = Reconstructor(params.reco, maps, None)
    frames = [img[128:384, 64:576] for img in images] if args.small else images
    rec.process(frames[0])
    started = time.perf_counter()
    for i in range(analyzed):
        rec.process(frames[i % len(frames)])
    bare = time.perf_counter() - started

    online_rate = analyzed / seconds
    bare_rate = analyzed / bare
    shape = "x".join(str(n) for n in maps.shape)
    print(f"frames {shape}, backend {backend}, {analyzed} physics events")
    print(f"online analyzer (frontend + buffer + reco + SQL): {online_rate:.2f} events/s")
    print(f"bare Reconstructor.process (reference):          {bare_rate:.2f} events/s")
    print(f"ratio online / reference: {online_rate / bare_rate:.2f}")
    print(f"8 cameras at 3 Hz need 24 images/s: {'kept up' if online_rate >= 24 else 'not'}"
          f" with one process here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
