"""Bench: `cygno-mw reprocess` on a Dask LocalCluster, 1 worker vs 2, the same files.

    .venv/bin/python bench/reprocess.py [--runs 4] [--events 10] [--size 2048]

Simulated runs (one pedestal run, one small warm-up run per worker, then `--runs` physics
runs of `--events` images of `--size`x`--size` pixels, NumPy backend) are re-processed twice
into two passes: with a local cluster of one worker process (the reference), then of two.
Prints both rates (images/s, campaign wall time, cluster start-up excluded), how many cores
the whole cluster kept busy meanwhile, and the ratio (goal >= 1.7 with 2 workers on a
machine with 2 free cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    from distributed import Client, LocalCluster
    from proc_stats import tree_cpu_s

    from cygno_mw.analyzers.reprocess.campaign import run_campaign
    from cygno_mw.analyzers.reprocess.inputs import file_item
    from cygno_mw.analyzers.reprocess.tasks import TaskOptions, process
    from cygno_mw.simulation.run import simulate_run
    from cygno_mw.simulation.signals import SignalMix

    folder = Path(tempfile.mkdtemp(prefix="cygno-bench-reprocess-"))
    shape = (args.size, args.size)
    pedestal = simulate_run(folder / "run00001.mid.lz4", 1, 3, pedestal=True, shape=shape,
                            with_pmt=False).path
    warm = [simulate_run(folder / f"run{n:05d}.mid.lz4", n, 1, shape=shape, with_pmt=False,
                         mix=SignalMix(fe55=1, muon=0, nr=0, er=0)).path for n in (90, 91)]
    physics = [simulate_run(folder / f"run{n:05d}.mid.lz4", n, args.events, shape=shape,
                            with_pmt=False, mix=SignalMix(fe55=3, muon=1, nr=0, er=0)).path
               for n in range(2, 2 + args.runs)]
    overrides = (f"reco.xmax={args.size}", "reco.ymin=0", f"reco.ymax={args.size}",
                 "reco.backend=numpy", "reco.vignette_map=none",
                 "output.reco_file_format=none")
    rates = {}
    for workers in (1, 2):
        options = TaskOptions(f"bench{workers}", str(folder / "out"), overrides)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=40) as cluster, \
                Client(cluster) as client:
            run_campaign(client, [file_item(str(pedestal))], options, close=False)
            # every worker replays one small run first: imports and sessions out of the timing
            addresses = list(client.scheduler_info()["workers"])
            client.gather([client.submit(process, file_item(str(warm[i])), options,
                                         workers=[address], pure=False)
                           for i, address in enumerate(addresses)])
            started, cpu_started = time.perf_counter(), tree_cpu_s()
            report = run_campaign(client, [file_item(str(p)) for p in physics], options)
            seconds = time.perf_counter() - started
            cores = (tree_cpu_s() - cpu_started) / seconds
        assert not report.failures, report.failures
        rates[workers] = report.images / seconds
        print(f"{workers} worker(s): {report.images} images of {args.size}x{args.size} in "
              f"{seconds:.1f} s = {rates[workers]:.2f} images/s; {cores:.2f} cores busy "
              f"(client, scheduler, workers)")
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f} (goal >= 1.7); "
          f"this machine has {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
