"""S3 for the analyzers: the output store from `/Output` settings, and `s3://` inputs.

Credentials never come from the ODB: boto3 finds them (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, instance roles).  The endpoint of an input URL
is the `Output/s3_endpoint_url` parameter, else `$AWS_ENDPOINT_URL`, else AWS.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.errors import CygnoError, UsageError


class S3InputError(CygnoError):
    """An s3:// input that cannot be fetched."""


def output_store(output: OutputParams) -> Any | None:
    """An `S3Store` for results when `s3_bucket` is set, else None."""
    if not output.s3_bucket:
        return None
    from cygno_mw.analyzers.outputs.s3_store import S3Store

    return S3Store(output.s3_bucket, prefix=output.s3_prefix,
                   endpoint_url=output.s3_endpoint_url or None)


def is_s3_url(text: str) -> bool:
    return str(text).startswith("s3://")


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_SAFE = "-_.+=@,~"  # left as they are in cache file names; everything else is %-encoded
_LONGEST_PART = 200


def split_s3_url(url: str) -> tuple[str, str]:
    """('bucket', 'key/of/object') of s3://bucket/key/of/object."""
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise UsageError(f"{url}: expected s3://BUCKET/PATH/TO/FILE.mid[.lz4|.gz]")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UsageError(f"{url}: {bucket!r} is not an S3 bucket name")
    return bucket, key


def cache_path(cache_dir: Path, bucket: str, key: str) -> Path:
    """Where the object `key` is cached: always inside `cache_dir/bucket`.

    A key is data, never a path: each `/`-separated part is %-encoded, and the parts
    that a file system would read as a path ('', '.', '..') get names no other part can
    have, so two keys never share a file and none escapes the folder.
    """
    parts = []
    for part in key.split("/"):
        name = quote(part, safe=_SAFE)
        if name in ("", ".", ".."):
            name = "%" + name.replace(".", "%2E")
        if len(name) > _LONGEST_PART:
            name = "%" + hashlib.sha256(name.encode()).hexdigest()
        parts.append(name)
    folder = cache_dir / bucket
    target = folder.joinpath(*parts)
    if not target.resolve().is_relative_to(folder.resolve()):  # cannot happen; kept as a guard
        raise UsageError(f"s3://{bucket}/{key}: the key does not map into the cache folder")
    return target


def fetch_input(url: str, cache_dir: Path, endpoint_url: str | None = None) -> Path:
    """Download an s3:// run file into `cache_dir` (kept: a second replay reuses it while
    the object's ETag and size are those of the cached copy) and return the local path."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = split_s3_url(url)
    target = cache_path(cache_dir, bucket, key)
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5))
    # beside each cached file its object's ETag (no cached key has a name starting with %)
    tag_file = target.with_name("%etag-" + target.name)
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        size, etag = int(head["ContentLength"]), str(head.get("ETag", ""))
        if etag and _cached(target, tag_file) == (size, etag):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("%part-" + target.name)
        tag_file.unlink(missing_ok=True)
        client.download_file(bucket, key, str(partial))
        if str(client.head_object(Bucket=bucket, Key=key).get("ETag", "")) != etag:
            partial.unlink(missing_ok=True)
            raise S3InputError(f"{url}: the object was replaced while it was downloaded "
                               "(run again)")
        partial.replace(target)
        if etag:
            tag_file.write_text(etag)
    except NoCredentialsError:
        raise S3InputError(f"{url}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials)") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        what = {"404": "no such object", "NoSuchKey": "no such object",
                "NoSuchBucket": "no such bucket", "403": "access denied"}.get(code, code)
        raise S3InputError(f"{url}: {what} (endpoint {endpoint or 'AWS'})") from None
    except (BotoCoreError, OSError) as exc:
        raise S3InputError(f"{url}: cannot download: {exc}") from None
    return target


def _cached(target: Path, tag_file: Path) -> tuple[int, str] | None:
    """(size, ETag) of the cached copy, or None when there is none or no ETag beside it
    (a copy cached before ETags were kept is fetched again)."""
    try:
        return target.stat().st_size, tag_file.read_text()
    except OSError:
        return None
