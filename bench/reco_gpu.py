"""GPU reconstruction: steady-state time per image, its ratio to the bare copy, peak memory.

    python bench/reco_gpu.py [--images 8] [--repeats 5] [--cpu-images 2] [--json out.json]

On simulated LIME images (2304x2304, SignalMix defaults), with CuPy and a CUDA GPU:
(a) steady-state ms per image through `Reconstructor.process_batch` in batches of
    `--batch` (default 8), frames decoded into the pinned host buffer, host-to-device copy
    and steps 1-7 included; also from ordinary (pageable) NumPy frames;
(b) the reference measured in the same run: the bare host-to-device copy of one image
    from pinned memory (the physical floor), and the ratio (a) / (b);
(c) the peak GPU memory CuPy allocated for a batch (maps, buffers and temporaries), taken
    by an allocator that records the pool's high-water mark;
(d) the CPU path on `--cpu-images` of the same images: its time per image, the GPU's
    speed-up over it, and whether both find the same number of clusters.
Goals checked: <= 5 ms per image, <= 2 GiB for a batch of 8.  Without CuPy or a GPU it says
so and exits 0.  Prints absolute numbers and ratios; `--json` writes them too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

GOAL_MS = 5.0
GOAL_BYTES = 2 * 2**30


def simulate(n_images: int, seed: int):
    from cygno_mw.simulation.camera import CameraSimulator
    from cygno_mw.simulation.sensor import SensorModel
    from cygno_mw.simulation.signals import SignalMix
    from cygno_mw.vignetting import builtin_vignette_map

    sensor = SensorModel.generate(seed=seed)
    vignette = np.asarray(builtin_vignette_map(sensor.shape), dtype=np.float32)
    sim = CameraSimulator(sensor, vignette=vignette, mix=SignalMix(), seed=seed + 1)
    return sensor, vignette, [sim.image()[0] for _ in range(n_images)]


class PeakAllocator:
    """CuPy allocator over a private memory pool that records its high-water mark."""

    def __init__(self, cp) -> None:
        self.pool = cp.cuda.MemoryPool()
        self.peak = 0

    def malloc(self, size: int):
        memory = self.pool.malloc(size)
        self.peak = max(self.peak, self.pool.used_bytes())
        return memory


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="distinct simulated images")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the batch")
    parser.add_argument("--cpu-images", type=int, default=2, help="images for the CPU path")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    args = parser.parse_args(argv)
    report: dict = {"gpu": False}

    from cygno_mw.gpu.backend import MIN_CUPY, cupy_available

    if not cupy_available():
        need = ".".join(map(str, MIN_CUPY))
        print(f"no GPU: CuPy >= {need} with a usable CUDA device is not available here; "
              "nothing measured")
        _write(args.json, report)
        return 0

    import cupy as cp

    from cygno_mw.gpu.params import RecoParams
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor

    print(f"simulating {args.images} LIME-like 2304x2304 images (SignalMix defaults)...")
    sensor, vignette, images = simulate(args.images, args.seed)
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 200)

    allocator = PeakAllocator(cp)
    cp.cuda.set_allocator(allocator.malloc)
    batch = args.batch
    reco = Reconstructor(RecoParams(backend="cupy", batch_size=batch), maps, vignette)
    host = reco.host_buffer(batch)
    for i in range(batch):
        host[i] = images[i % len(images)]
    pinned = list(host)
    pageable = [images[i % len(images)] for i in range(batch)]
    device = cp.cuda.Device()

    t0 = time.perf_counter()
    first = reco.process_batch(pinned)  # kernel compilation, pools
    device.synchronize()
    warmup_s = time.perf_counter() - t0

    def per_image(frames: list[np.ndarray]) -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            reco.process_batch(frames)
            device.synchronize()
            out.append((time.perf_counter() - t0) / len(frames))
        return out

    t_pinned = per_image(pinned)
    t_pageable = per_image(pageable)
    steps: dict[str, list[float]] = {}
    for result in reco.process_batch(pinned):
        for name, seconds in result.timings.items():
            steps.setdefault(name, []).append(seconds)

    target = cp.empty(images[0].shape, dtype=cp.uint16)
    copies = []
    for _ in range(30):
        t0 = time.perf_counter()
        target.set(host[0])
        device.synchronize()
        copies.append(time.perf_counter() - t0)
    copy_ms = _median_ms(copies)
    gpu_ms = _median_ms(t_pinned)
    peak = allocator.peak
    free, total = cp.cuda.runtime.memGetInfo()

    cpu = Reconstructor(RecoParams(backend="numpy"), maps, vignette)
    cpu.process(images[0])  # warm-up
    n_cpu = max(1, min(args.cpu_images, len(images)))
    cpu_times, same = [], []
    for i in range(n_cpu):
        t0 = time.perf_counter()
        ref = cpu.process(images[i])
        cpu_times.append(time.perf_counter() - t0)
        same.append(ref.n_clusters == first[i].n_clusters)
    cpu_ms = _median_ms(cpu_times)

    report.update(
        gpu=True,
        device=reco.device_name,
        cupy=cp.__version__,
        batch=batch,
        warmup_s=warmup_s,
        ms_per_image=gpu_ms,
        ms_per_image_pageable=_median_ms(t_pageable),
        images_per_s=1e3 / gpu_ms,
        bare_copy_ms=copy_ms,
        ratio_to_copy=gpu_ms / copy_ms,
        peak_gpu_bytes=peak,
        pool_held_bytes=allocator.pool.total_bytes(),
        device_used_bytes=total - free,
        cpu_ms_per_image=cpu_ms,
        speedup_over_cpu=cpu_ms / gpu_ms,
        same_cluster_counts=all(same),
        clusters_per_image=[r.n_clusters for r in first],
        steps_ms={name: _median_ms(v) for name, v in steps.items()},
        goal_ms_ok=gpu_ms <= GOAL_MS,
        goal_memory_ok=peak <= GOAL_BYTES,
    )
    print_report(report, args.repeats, n_cpu)
    _write(args.json, report)
    return 0


def print_report(r: dict, repeats: int, n_cpu: int) -> None:
    """The numbers of `main`'s report, for a person."""
    mib = 2**20
    print(f"\n{r['device']}, CuPy {r['cupy']}, batches of {r['batch']}, {repeats} passes "
          f"(first batch with compilation: {r['warmup_s']:.1f} s)")
    print(f"  (a) steady state per image, copy included: {r['ms_per_image']:.2f} ms "
          f"= {r['images_per_s']:.0f} images/s (from pageable frames: "
          f"{r['ms_per_image_pageable']:.2f} ms)")
    print(f"  (b) bare host-to-device copy of one image (pinned): {r['bare_copy_ms']:.3f} ms "
          f"=> (a) is {r['ratio_to_copy']:.1f} x the copy")
    print(f"  (c) peak GPU memory for a batch of {r['batch']}: "
          f"{r['peak_gpu_bytes'] / mib:.0f} MiB (pool holds {r['pool_held_bytes'] / mib:.0f} "
          f"MiB; device in use {r['device_used_bytes'] / mib:.0f} MiB incl. the CUDA context)")
    print(f"  (d) CPU path: {r['cpu_ms_per_image']:.1f} ms/image => GPU "
          f"{r['speedup_over_cpu']:.1f} x faster; same cluster counts on {n_cpu} images: "
          f"{r['same_cluster_counts']}")
    print("  steps (median ms per image): " + ", ".join(
        f"{name} {value:.2f}" for name, value in r["steps_ms"].items()))
    print(f"  goals: <= {GOAL_MS} ms/image {'met' if r['goal_ms_ok'] else 'NOT met'}; "
          f"<= {GOAL_BYTES / 2**30:.0f} GiB for a batch of 8 "
          f"{'met' if r['goal_memory_ok'] else 'NOT met'}")


def _write(path: Path | None, report: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
