"""Benchmark: does `cygno-mw replay` hide its I/O behind the reconstruction?

Simulates (in a temporary folder) a pedestal run and a physics run of full 2304x2304 LIME
frames as `.mid.lz4`, replays the pedestal run to get its maps, then measures on the same
images, with the same engine settings (`-j N`, GPU batches when CuPy sees a GPU):

  reco-only   the images, already decoded in memory, through the reconstruction engine
              (no file, no decompression, no database);
  end-to-end  `ReplaySession.replay(file)`: decompression and decoding (reader thread),
              reconstruction, SQLite + Parquet writes (writer thread), MD5 of the file.

Both are timed after a warm-up (worker processes started, Reconstructors built), `repeats`
times in alternation; the medians are printed with their ratio (goal: >= 0.7).

It also prints the CPU time per image end to end (this process's threads plus its worker
processes) and the rate those CPU seconds allow on this machine's cores (the ceiling for
any -j), and the memory of each helper process (RSS, PSS and its own USS from /proc, read
after each pass: with -j N the fork server and the N workers of both engines).

    .venv/bin/python bench/replay.py [--events 24] [-j 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from proc_stats import descendants, memory_mb, parent_pid, tree_cpu_s

from cygno_mw.analyzers.events import camera_images, from_midas_event
from cygno_mw.analyzers.reco_engine import ImageJob, make_engine
from cygno_mw.analyzers.replay.session import ReplayOptions, ReplaySession
from cygno_mw.midasfile import open_midas
from cygno_mw.simulation.run import simulate_run


def load_images(path: Path) -> list[tuple[int, int, object]]:
    """(serial, timestamp, image) of every camera image of the file, decoded in memory."""
    images = []
    with open_midas(path) as midas:
        for event in midas:
            decoded = from_midas_event(0, event)
            for _camera, image in camera_images(decoded):
                images.append((decoded.serial, decoded.timestamp, image.copy()))
    return images


def reco_only(engine: object, images: list, pedestal: Path,
              cpu: list[float] | None = None) -> float:
    """Seconds to reconstruct all `images` with `engine` (submit + drain); the CPU seconds
    this process spent on it are appended to `cpu` (with -j N: handing images over)."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    done = 0
    for serial, timestamp, image in images:
        done += len(engine.submit(ImageJob(0, 0, serial, timestamp, image, pedestal)))
    done += len(engine.drain())
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    assert done == len(images)
    return elapsed


class HelperProcesses:
    """Memory (largest seen, and last) and CPU time of this process's children (the worker
    pool and its fork server).  Memory is sampled between timed passes only: reading
    smaps_rollup walks page tables and would slow the passes it measured."""

    def __init__(self) -> None:
        self.peaks: dict[int, dict[str, float]] = {}
        self.last: dict[int, dict[str, float]] = {}
        self.names: dict[int, str] = {}

    def sample(self) -> None:
        for pid in descendants(os.getpid()):
            try:
                memory = memory_mb(pid)
                with open(f"/proc/{pid}/cmdline") as handle:
                    command = handle.read()
            except (OSError, KeyError):
                continue
            if "resource_tracker" in command:
                continue
            self.names[pid] = "fork server" if parent_pid(pid) == os.getpid() else "worker"
            peak = self.peaks.setdefault(pid, dict.fromkeys(memory, 0.0))
            for key, value in memory.items():
                peak[key] = max(peak[key], value)
            self.last[pid] = memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=24, help="physics images (default 24)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes of each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cygno-bench-replay-") as folder:
        work = Path(folder)
        print(f"simulating {args.events} physics and 4 pedestal images in {work} ...")
        pedestal_run = simulate_run(work / "run00001.mid.lz4", 1, 4, pedestal=True)
        physics_run = simulate_run(work / "run00002.mid.lz4", 2, args.events)
        options = ReplayOptions(output_dir=work / "out", workers=args.jobs,
                                messages=lambda _t: None)
        with ReplaySession(options) as session:
            session.replay(pedestal_run.path)
            params = session.parameters(None)
            pedestal_map = work / "out" / "pedestals" / "run00001_cam0.npz"
            images = load_images(physics_run.path)
            engine = make_engine(params.reco, args.jobs, preload=[pedestal_map])
            helpers = HelperProcesses()
            try:
                reco_only(engine, images[: max(2, 2 * args.jobs)], pedestal_map)  # warm-up
                session.replay(physics_run.path)  # warm-up
                reco_times, e2e_times, parent_cpu, e2e_cpu = [], [], [], []
                for _ in range(args.repeats):
                    reco_times.append(reco_only(engine, images, pedestal_map, parent_cpu))
                    helpers.sample()
                    started = time.perf_counter()
                    cpu_started = tree_cpu_s()
                    summary = session.replay(physics_run.path)
                    e2e_times.append(time.perf_counter() - started)
                    e2e_cpu.append(tree_cpu_s() - cpu_started)
                    helpers.sample()
            finally:
                engine.close()
    n = len(images)
    reco_rate = n / statistics.median(reco_times)
    e2e_rate = n / statistics.median(e2e_times)
    print(f"backend {summary.backend} ({summary.device}), {n} images of 2304x2304, "
          f"{args.repeats} passes each")
    print(f"reco-only   {reco_rate:7.2f} images/s  (passes: "
          + ", ".join(f"{n / t:.2f}" for t in reco_times) + ")")
    print(f"end-to-end  {e2e_rate:7.2f} images/s  (passes: "
          + ", ".join(f"{n / t:.2f}" for t in e2e_times) + ")")
    print(f"ratio end-to-end / reco-only = {e2e_rate / reco_rate:.2f} (goal >= 0.70)")
    cpu_per_image = statistics.median(e2e_cpu) / n
    cores = os.cpu_count() or 1
    print(f"end-to-end CPU time per image (all threads and workers) {cpu_per_image * 1e3:.1f} ms"
          f" = {cpu_per_image * e2e_rate:.2f} cores busy; {cores} cores allow at most "
          f"{cores / cpu_per_image:.1f} images/s")
    for pid, peak in sorted(helpers.peaks.items()):
        last = helpers.last[pid]
        print(f"  {helpers.names[pid]:<11} pid {pid}: largest RSS {peak['RSS']:.0f} MB, "
              f"PSS {peak['PSS']:.0f} MB, USS {peak['USS']:.0f} MB; at the end "
              f"{last['RSS']:.0f}, {last['PSS']:.0f}, {last['USS']:.0f} MB")
    print(f"reco-only: this process's CPU time per image "
          f"{statistics.median(parent_cpu) / n * 1e3:.1f} ms "
          f"(with -j N: handing the images to the workers and taking the results back)")


if __name__ == "__main__":
    main()
