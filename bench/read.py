"""Benchmark: is reading a `.mid.lz4` with cygno_mw.midasfile as fast as decompressing it?

Writes (to a temporary folder) a run of camera images, 2304x2304 uint16 (simulated
LIME frames from cygno_mw.simulation, or else numpy pedestal noise 100±3 ADU with a few
tracks) as mlogger would (LZ4 frame, 4 MB blocks),
then times, medians over a few repeats:

  (a)  lz4.frame.decompress of the whole file (read + decompress, no parsing);
  (a') streaming decompression of the file in 1 MB chunks, output dropped (the pure
       decompression rate, without (a)'s one big allocation);
  (b)  our reader iterating all events and touching each CAM0 bank.

Prints decoded GB/s (decompressed bytes per second) for each and the ratios
(b)/(a) and (b)/(a'); the goal is (b)/(a) >= 0.8.

    .venv/bin/python bench/read.py [--events 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import lz4.frame
import numpy as np

from cygno_mw.midasfile import MidasWriter, open_midas

SIDE = 2304


def numpy_images(count: int, seed: int = 1) -> Iterator[np.ndarray]:
    """Pedestal noise 100±3 ADU plus a few straight tracks (slices of one noise pool)."""
    rng = np.random.default_rng(seed)
    pixels = SIDE * SIDE
    pool = np.rint(rng.normal(100.0, 3.0, size=2 * pixels)).astype(np.uint16)
    for _ in range(count):
        start = int(rng.integers(0, pixels))
        image = pool[start : start + pixels].reshape(SIDE, SIDE).copy()
        for _track in range(int(rng.integers(1, 4))):
            x0, y0 = rng.uniform(200, SIDE - 200, size=2)
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(20, 150)
            steps = np.linspace(0.0, length, int(length) * 2)
            xs = np.clip(np.rint(x0 + steps * np.cos(angle)), 0, SIDE - 1).astype(int)
            ys = np.clip(np.rint(y0 + steps * np.sin(angle)), 0, SIDE - 1).astype(int)
            image[ys, xs] += rng.poisson(30, size=xs.size).astype(np.uint16)
        yield image


def camera_images(count: int) -> tuple[str, Iterator[np.ndarray]]:
    """Simulated LIME frames from cygno_mw.simulation when present, else numpy noise."""
    try:
        from cygno_mw.simulation.camera import CameraSimulator
        from cygno_mw.simulation.sensor import DEFAULT_CAMERA_SEED, SensorModel

        sensor = SensorModel.generate(DEFAULT_CAMERA_SEED, (SIDE, SIDE))
        camera = CameraSimulator(sensor, seed=1)
    except (ImportError, TypeError, AttributeError) as exc:
        return f"numpy noise (simulation unavailable: {exc})", numpy_images(count)
    return "cygno_mw.simulation", (camera.image()[0] for _ in range(count))


def write_run(path: Path, count: int) -> tuple[str, int]:
    """The run file; returns the image source and the decompressed size in bytes."""
    odb = {"Runinfo": {"Run number": 1}, "Configurations": {"Exposure": 0.3}}
    source, images = camera_images(count)
    with MidasWriter(path, 1, odb) as writer:
        for image in images:
            writer.write(1, {"CAM0": image})
    return source, writer.bytes_written


def time_it(func: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    produced = func()
    return time.perf_counter() - start, produced


def plain_decompress(path: Path) -> int:
    with open(path, "rb") as handle:
        return len(lz4.frame.decompress(handle.read()))


def streaming_decompress(path: Path) -> int:
    context = lz4.frame.create_decompression_context()
    produced = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            view, pos = memoryview(chunk), 0
            while pos < len(chunk):
                out, used, _ = lz4.frame.decompress_chunk(context, view[pos:])
                pos += used
                produced += len(out)
    return produced


def our_reader(path: Path) -> int:
    events = 0
    with open_midas(path) as midas:
        for event in midas:
            event.bank("CAM0").data[0]
            events += 1
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cygno-bench-") as folder:
        path = Path(folder) / "run00001.mid.lz4"
        start = time.perf_counter()
        source, total = write_run(path, args.events)
        written = time.perf_counter() - start
        size = path.stat().st_size
        print(
            f"file: {args.events} events of {SIDE}x{SIDE} uint16 ({source}), {total / 1e9:.3f} GB "
            f"decompressed, {size / 1e9:.3f} GB as LZ4 (ratio {size / total:.2f}); "
            f"written in {written:.1f} s"
        )
        times: dict[str, list[float]] = {"a": [], "a'": [], "b": []}
        for _ in range(args.repeats):
            seconds, produced = time_it(lambda: plain_decompress(path))
            assert produced == total
            times["a"].append(seconds)
            seconds, produced = time_it(lambda: streaming_decompress(path))
            assert produced == total
            times["a'"].append(seconds)
            seconds, events = time_it(lambda: our_reader(path))
            assert events == args.events
            times["b"].append(seconds)

    labels = {
        "a": "lz4.frame.decompress(whole file)",
        "a'": "streaming lz4 decompress, dropped",
        "b": "open_midas: iterate + touch CAM0",
    }
    medians = {key: statistics.median(values) for key, values in times.items()}
    for key, label in labels.items():
        print(
            f"({key:2}) {label:36} median {medians[key]:7.3f} s  "
            f"{total / medians[key] / 1e9:6.3f} GB/s  (runs: "
            + ", ".join(f"{t:.3f}" for t in times[key])
            + ")"
        )
    print(f"ratio (b)/(a)  = {medians['a'] / medians['b']:.2f}   (goal >= 0.8)")
    streaming = medians["a'"]
    print(f"ratio (b)/(a') = {streaming / medians['b']:.2f}")


if __name__ == "__main__":
    main()
