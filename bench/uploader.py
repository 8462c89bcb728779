"""Bench: the uploader from the real SYSTEM buffer to moto's S3 server, 10.6 MB camera events.

    .venv/bin/python bench/uploader.py [--seconds 6] [--small]

A private MIDAS experiment (as the `midas` tests make it; mlogger stopped so that the disk
serves the uploader only) with the camera frontend unpaced (sim driver, full 2304x2304
frames of 10.6 MB):

1. reference: the frontend alone into the real SYSTEM buffer (nobody reads it);
2. frontend -> SYSTEM -> uploader (GET_ALL: the frontend waits for it, so the chain runs at
   the uploader's rate) -> chunk files -> moto S3 + SQLite, for `--seconds`; then the time
   until the spool is empty.

Prints the rate the uploader takes events at (MB/s, run start to stop, transitions
included), the end-to-end rate to S3 (run start to the last chunk verified on S3), the
ratio to the reference and to the detector's 3.4 MB/s (goal >= 10x).
"""

from __future__ import annotations

import argparse
import os
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
from servers import MotoS3Server  # noqa: E402

from cygno_mw.odb_install import cygno_mw_command  # noqa: E402

CAMERA = "Camera Frontend 0"
UPLOADER = "Uploader"
STATS = "/Equipment/Uploader/Statistics"
DETECTOR_MB_S = 3.4
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
       "AWS_DEFAULT_REGION": "us-east-1"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="run length")
    parser.add_argument("--small", action="store_true", help="256x512 frames instead of full")
    args = parser.parse_args()
    midassys = find_midassys()
    if midassys is None:
        print(missing_reason())
        return 2
    command = shlex.split(cygno_mw_command())
    camera = {"Frame rate": 0.0, "Sim pool": 4}
    if args.small:
        camera.update({"ROI width": 512, "ROI height": 256, "ROI x0": 64, "ROI y0": 128})
    os.environ.update(AWS)
    work = Path(tempfile.mkdtemp(prefix="cygno-bench-uploader-"))

    def install(experiment: MidasExperiment) -> None:
        subprocess.run([*command, "odb", "install"], env=experiment.env, check=True,
                       cwd=experiment.directory, capture_output=True)
        experiment.crew.odb_set("/Equipment/Camera0/Settings", camera,
                                remove_unspecified_keys=False)

    with MotoS3Server() as s3:
        import boto3

        boto3.client("s3", endpoint_url=s3.endpoint_url).create_bucket(Bucket="bench")
        experiment = MidasExperiment(midassys, work / "midas")
        experiment.directory.mkdir()
        experiment.env.update(AWS)
        try:
            experiment.start(install)
            crew = experiment.crew
            experiment.jsonrpc("cm_shutdown", {"name": "Logger", "unique": True})
            frontend = experiment.spawn([*command, "frontend", "camera", "-i", "0"], "camera")
            wait_for(lambda: CAMERA in experiment.client_pids(), 120, "the camera frontend")

            # 1. the frontend alone
            alone_started = time.perf_counter()
            crew.start_run()
            crew.wait(args.seconds)
            crew.stop_run()
            alone_s = time.perf_counter() - alone_started
            crew.wait(4.0)  # the frontend writes its statistics every 3 s
            sent = float(crew.odb_get("/Equipment/Camera0/Statistics/Events sent"))

            # 2. with the uploader
            crew.odb_set("/Equipment/Uploader/Settings", {
                "Spool dir": str(work / "spool"), "S3 endpoint URL": s3.endpoint_url,
                "S3 bucket": "bench", "Database URL": f"sqlite:///{work / 'chunks.sqlite'}",
                "Chunk max MB": 256.0, "Chunk max s": 5.0, "Statistics interval s": 0.5},
                remove_unspecified_keys=False)
            uploader = experiment.spawn([*command, "analyzer", "uploader"], "uploader")
            wait_for(lambda: UPLOADER in experiment.client_pids(), 120, "the uploader")
            started = time.perf_counter()
            crew.start_run()
            crew.wait(args.seconds)
            crew.stop_run()
            run_s = time.perf_counter() - started
            taken = float(crew.odb_get(f"{STATS}/Bytes"))
            events = float(crew.odb_get(f"{STATS}/Events"))
            wait_for(lambda: crew.odb_get(f"{STATS}/Backlog chunks") == 0
                     and crew.odb_get(f"{STATS}/Chunks uploaded") >= 1, 600, "the spool to drain")
            total_s = time.perf_counter() - started
            chunks = int(crew.odb_get(f"{STATS}/Chunks uploaded"))
            event_mb = taken / events / 1e6 if events else 0.0
            for name in (UPLOADER, CAMERA):
                experiment.jsonrpc("cm_shutdown", {"name": name, "unique": True})
            for process in (uploader, frontend):
                process.wait(timeout=120)
        finally:
            experiment.stop()

    alone_mb_s = sent * event_mb / alone_s
    taken_mb_s = taken / 1e6 / run_s
    end_mb_s = taken / 1e6 / total_s
    print(f"events of {event_mb:.1f} MB; {events:.0f} events ({taken / 1e9:.2f} GB) in a "
          f"{run_s:.1f} s run, {chunks} chunks; the frontend alone sent {sent:.0f} events in "
          f"{alone_s:.1f} s")
    print(f"frontend alone into SYSTEM (reference):      {alone_mb_s:.0f} MB/s")
    print(f"uploader taking events from SYSTEM:          {taken_mb_s:.0f} MB/s "
          f"(ratio to the reference {taken_mb_s / alone_mb_s if alone_mb_s else 0:.2f})")
    print(f"end to end to S3 (run start -> spool empty): {end_mb_s:.0f} MB/s = "
          f"{end_mb_s / DETECTOR_MB_S:.1f}x the detector's {DETECTOR_MB_S} MB/s (goal >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
