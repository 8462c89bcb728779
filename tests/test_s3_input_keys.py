"""`s3://` inputs: an object key is data, never a path (issue 12, defect 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cygno_mw.analyzers.s3_access import cache_path, fetch_input, split_s3_url
from cygno_mw.errors import UsageError

KEYS = ["../../../x.mid", "/etc/x.mid", "a/./b.mid", "a//b.mid", "a/../b.mid", "b.mid",
        "%2E%2E/x.mid", "LNGS/run42901.mid.lz4", "x" * 400 + ".mid"]


def test_every_key_stays_in_its_own_file_in_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    paths = [cache_path(cache, "bucket", key) for key in KEYS]
    for path in paths:
        assert path.resolve().is_relative_to((cache / "bucket").resolve())
        assert ".." not in path.relative_to(cache).parts
    assert len(set(paths)) == len(KEYS)  # two keys never share a file
    assert cache_path(cache, "b1", "LNGS/run1.mid") == cache / "b1" / "LNGS" / "run1.mid"


@pytest.mark.parametrize("url", ["s3://../x.mid", "s3://Bad_Bucket/x.mid", "s3://a..b/x.mid"])
def test_bucket_names_are_checked(url: str) -> None:
    with pytest.raises(UsageError, match="not an S3 bucket name"):
        split_s3_url(url)


@pytest.mark.s3
def test_hostile_keys_are_fetched_into_the_cache(s3_server, aws_env, tmp_path: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket="raw")
    outside = tmp_path / "outside.mid"
    work = tmp_path / "a" / "b"
    cache = work / "cache"
    for key in ("../../../outside.mid", str(outside)):
        client.put_object(Bucket="raw", Key=key, Body=key.encode())
        got = fetch_input(f"s3://raw/{key}", cache, s3_server.endpoint_url)
        assert got.resolve().is_relative_to(cache.resolve()) and got.read_bytes() == key.encode()
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
