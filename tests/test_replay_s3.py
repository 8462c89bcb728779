"""Replay with S3: run files read from s3:// URLs, pedestal maps and reco files stored there.

Uses moto's S3 server (tests/servers.py); skipped when moto is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

pytestmark = pytest.mark.s3


@pytest.fixture
def s3(s3_server, aws_env):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    for bucket in ("cygno-raw", "cygno-results"):
        client.create_bucket(Bucket=bucket)
    return client, s3_server.endpoint_url


def test_inputs_and_outputs_on_s3(s3, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    client, endpoint = s3
    pedestal = simulate_run(tmp_path / "run00030.mid.lz4", 30, 3, pedestal=True)
    physics = simulate_run(tmp_path / "run00031.mid.lz4", 31, 2, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0))
    for run in (pedestal, physics):
        client.upload_file(str(run.path), "cygno-raw", f"LNGS/{run.path.name}")
    out = tmp_path / "out"
    args = ["replay", "-o", str(out), "--set", "output.s3_bucket=cygno-results",
            "--set", f"output.s3_endpoint_url={endpoint}"]
    urls = [f"s3://cygno-raw/LNGS/{run.path.name}" for run in (pedestal, physics)]
    assert main([*args, *urls]) == 0
    report = capsys.readouterr().out
    assert "reco file: s3://cygno-results/cygno/run00031/run00031_reco_replay.parquet" in report
    assert (out / "cache" / "s3" / "cygno-raw" / "LNGS" / physics.path.name).is_file()
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        location = db.pedestals(30).loc[0, "map_location"]
        assert db.runs(31).loc[0, "reco_status"] == "done"
    assert location == "s3://cygno-results/cygno/run00030/run00030_cam0.npz"

    # the local copy of the map is gone: the next replay fetches it from S3
    (out / "pedestals" / "run00030_cam0.npz").unlink()
    assert main([*args, "-q", urls[1]]) == 0
    assert (out / "pedestals" / "run00030_cam0.npz").is_file()


def test_missing_s3_object(s3, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, endpoint = s3
    assert main(["replay", "-o", str(tmp_path), "--set", f"output.s3_endpoint_url={endpoint}",
                 "s3://cygno-raw/nope.mid.lz4"]) == 1
    assert "s3://cygno-raw/nope.mid.lz4: no such object" in capsys.readouterr().err


def test_cached_input_replaced_by_other_bytes_of_the_same_size(s3, tmp_path: Path) -> None:
    """Issue 27, item 5: an object replaced with other bytes of the same size was replayed
    from the stale cached copy (exit 0, the old MD5 in the Run row); the ETag decides."""
    import hashlib

    client, endpoint = s3
    pedestal = simulate_run(tmp_path / "run00032.mid.lz4", 32, 2, pedestal=True)
    physics = simulate_run(tmp_path / "run00033.mid", 33, 2, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0))
    first = physics.path.read_bytes()
    second = bytearray(first)
    second[-40000] ^= 0x01  # a pixel of the last image: same size, other bytes
    assert len(second) == len(first)
    out = tmp_path / "out"
    args = ["replay", "-q", "-o", str(out), "--set", f"output.s3_endpoint_url={endpoint}"]
    assert main([*args, str(pedestal.path)]) == 0
    url = "s3://cygno-raw/LNGS/run00033.mid"
    for body in (first, bytes(second)):
        client.put_object(Bucket="cygno-raw", Key="LNGS/run00033.mid", Body=body)
        assert main([*args, url]) == 0
        cached = out / "cache" / "s3" / "cygno-raw" / "LNGS" / "run00033.mid"
        assert cached.read_bytes() == body
        with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
            checksum = db.runs(33).loc[0, "file_checksum"]
        assert checksum == hashlib.md5(body).hexdigest()
