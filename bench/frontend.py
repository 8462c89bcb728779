"""Camera frontend throughput: 10.6 MB image events built and handed to MIDAS, on one core.

Runs the real camera frontend classes (`cygno_mw.frontends.camera.equipment`) in MIDAS's own
frontend loop shape, with the sim driver (4 simulated images served in turn) and the replay
driver (images read back from a MIDAS file), unpaced, full 2304 x 2304 frames.  MIDAS is the
test stand-in (tests/midas_standin) in real-time mode: communicate() sleeps the yield time the
real loop asks for, and send_event() copies each event once, as bm_send_event copies it into
the shared-memory buffer.  Beside it, in the same run: a bare NumPy copy of the same image
(the floor: the frontend must copy each image at least once), and MIDAS's own
`Event.pack()` struct path on one image (why the frontend uses `NumpyEvent`).

    .venv/bin/python bench/frontend.py [--events 300] [--no-replay]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "midas_standin"))  # the stand-in, even if MIDAS exists

import midas  # noqa: E402
import midas.client  # noqa: E402
import midas.event  # noqa: E402
from midas import standin  # noqa: E402

from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

SHAPE = (2304, 2304)
IMAGE_MB = SHAPE[0] * SHAPE[1] * 2 / 1e6
GOAL_HZ = 50.0


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def numpy_copy_rate(image: np.ndarray, repeats: int) -> float:
    """Events per second of a bare copy of the image into a preallocated buffer."""
    target = np.empty_like(image)
    np.copyto(target, image)
    start = time.perf_counter()
    for _ in range(repeats):
        np.copyto(target, image)
    return repeats / (time.perf_counter() - start)


def frontend_rate(settings: dict, events: int) -> tuple[float, int]:
    """Events per second through CameraFrontend's real loop; also the events sent."""
    standin.reset(virtual_time=False)
    crew = midas.client.MidasClient("bench")
    crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
    crew.odb_set("/Equipment/Camera0/Settings", settings, remove_unspecified_keys=False)
    frontend = CameraFrontend(0)
    crew.start_run()
    with contextlib.redirect_stdout(io.StringIO()):  # the loop prints "Running..."
        standin.run_frontend(frontend, 5)  # warm up: run state delivered, buffer allocated
        sent_before = frontend.camera.frames_sent
        start = time.perf_counter()
        standin.run_frontend(frontend, events)
        elapsed = time.perf_counter() - start
    sent = frontend.camera.frames_sent - sent_before
    crew.stop_run()
    frontend.close()
    return sent / elapsed, sent


def struct_pack_seconds(image: np.ndarray) -> float:
    """Seconds for MIDAS's own Event.pack() of one image bank (struct, one arg per value)."""
    event = midas.event.Event()
    event.header.event_id, event.header.serial_number = 10, 0
    event.create_bank("CAM0", midas.TID_WORD, image.reshape(-1))
    start = time.perf_counter()
    event.pack()
    return time.perf_counter() - start


def write_replay_file(folder: Path, images: list[np.ndarray]) -> Path:
    from cygno_mw.midasfile.writer import MidasWriter

    path = folder / "run00001.mid"
    with MidasWriter(path, 1, {"Experiment": {"Name": "bench"}}) as writer:
        for image in images:
            writer.write(10, {"CAM0": image.reshape(-1)})
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="loop passes per measurement")
    parser.add_argument("--no-replay", action="store_true", help="skip the replay driver")
    args = parser.parse_args()
    pinning = pin_to_one_core()
    print(f"camera frontend bench: {SHAPE[0]}x{SHAPE[1]} uint16 images, {IMAGE_MB:.1f} MB per "
          f"event, MIDAS stand-in in real-time mode, {pinning}")

    sim = {"Driver": "sim", "Frame rate": 0.0, "Sim pool": 4}
    sim_hz, sim_sent = frontend_rate(sim, args.events)
    image = np.random.default_rng(1).integers(
        0, 4096, SHAPE, dtype=np.uint16)
    copy_hz = numpy_copy_rate(image, 100)
    rows = [("numpy copy of one image (reference)", copy_hz, 100)]
    rows.append(("camera frontend, sim driver", sim_hz, sim_sent))
    if not args.no_replay:
        with tempfile.TemporaryDirectory() as folder:
            rng = np.random.default_rng(2)
            images = [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(4)]
            path = write_replay_file(Path(folder), images)
            replay = {"Driver": "replay", "Replay file": str(path), "Frame rate": 0.0}
            replay_hz, replay_sent = frontend_rate(replay, args.events)
        rows.append(("camera frontend, replay driver (plain .mid)", replay_hz, replay_sent))
    pack_s = struct_pack_seconds(image)
    rows.append(("MIDAS Event.pack() struct path, 1 image", 1.0 / pack_s, 1))

    print(f"{'':44s} {'events/s':>10s} {'MB/s':>9s} {'vs copy':>8s} {'events':>7s}")
    for label, hz, count in rows:
        print(f"{label:44s} {hz:10.1f} {hz * IMAGE_MB:9.0f} {hz / copy_hz:8.3f} {count:7d}")
    frontend_hz = [hz for label, hz, _ in rows if label.startswith("camera frontend")]
    verdict = "met" if min(frontend_hz) >= GOAL_HZ else "NOT met"
    print(f"goal >= {GOAL_HZ:.0f} events/s through the frontend: {verdict} "
          f"(slowest driver {min(frontend_hz):.1f} events/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
