"""`S3Store`: run files and maps on S3-compatible storage, verified by SHA-256.

Configuration holds only the endpoint URL, bucket and prefix; credentials come from boto3's
own chain (environment variables, AWS config/credentials files, instance roles) and never from
the ODB — `from_config` refuses keys that look like secrets. Object keys are built from run
numbers and checked names (`{prefix}/run{run:05d}/{name}`); nothing can climb out of the prefix.

Uploads go through boto3's transfer manager (multipart above `multipart_threshold`) with
ChecksumAlgorithm=SHA256: the server checks each part, and afterwards the stored checksum is
compared with one computed locally (the full-object SHA-256, or for multipart objects the
SHA-256 of the parts' SHA-256s, with the part size the transfer manager used). The full-file
SHA-256 and the run number are stored as object metadata. Transient errors are retried by
botocore (standard mode) and, for an unreachable endpoint, by us with bounded backoff.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import credentials
from .database import RetryPolicy
from .errors import ChecksumMismatchError, S3Error, S3UnavailableError

log = logging.getLogger(__name__)

_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECRET_KEYS = re.compile(r"secret|password|token|access_key|session", re.IGNORECASE)
MIB = 1024 * 1024
_READ_CHUNK = 8 * MIB


@dataclass(frozen=True)
class StoredObject:
    """What an upload stored: where, how big, and its checksums."""

    bucket: str
    key: str
    size: int
    sha256: str  # hex, whole file
    checksum_sha256: str  # as S3 reports it (base64; composite for multipart)
    parts: int

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def run_key(prefix: str, run: int, name: str) -> str:
    """`{prefix}/run{run:05d}/{name}`, refusing anything that could leave that folder."""
    if isinstance(run, bool) or not isinstance(run, int) or run < 0:
        raise S3Error(f"run number must be a non-negative integer, got {run!r}")
    parts = name.split("/")
    if not name or any(not _NAME_PART.match(p) or p in (".", "..") for p in parts):
        raise S3Error(f"object name {name!r} not allowed (letters, digits, '._+-', "
                      "sub-folders with '/', no '..', no leading '/' or '.')")
    clean_prefix = _check_prefix(prefix)
    return "/".join(p for p in (clean_prefix, f"run{run:05d}", name) if p)


def _check_prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    if stripped and any(not _PREFIX_PART.match(p) for p in stripped.split("/")):
        raise S3Error(f"S3 prefix {prefix!r} not allowed (letters, digits, '._-' folders)")
    return stripped


def sha256_file(path: Path, part_size: int | None = None) -> tuple[str, str, int]:
    """(hex SHA-256 of the file, base64 S3 checksum, number of parts) in one read.

    With `part_size`, the S3 checksum is the multipart composite: SHA-256 over the parts'
    SHA-256 digests."""
    whole = hashlib.sha256()
    part_digests: list[bytes] = []
    part = hashlib.sha256()
    in_part = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_READ_CHUNK if part_size is None
                                   else min(_READ_CHUNK, part_size - in_part)):
            whole.update(chunk)
            if part_size is not None:
                part.update(chunk)
                in_part += len(chunk)
                if in_part == part_size:
                    part_digests.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
    if part_size is None:
        return whole.hexdigest(), base64.b64encode(whole.digest()).decode(), 1
    if in_part:
        part_digests.append(part.digest())
    composite = hashlib.sha256(b"".join(part_digests)).digest()
    return whole.hexdigest(), base64.b64encode(composite).decode(), len(part_digests)


class S3Store:
    """Uploads and downloads of run files under one bucket and prefix."""

    def __init__(self, bucket: str, *, prefix: str = "cygno", endpoint_url: str | None = None,
                 region: str | None = None, multipart_threshold: int = 64 * MIB,
                 multipart_chunksize: int = 64 * MIB, max_concurrency: int = 4,
                 retry: RetryPolicy | None = None, client: Any = None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        credentials.remember_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"))
        credentials.remember_secret(os.environ.get("AWS_SESSION_TOKEN"))
        self.bucket = bucket
        self.prefix = _check_prefix(prefix)
        self.endpoint_url = endpoint_url or None
        self.retry = retry or RetryPolicy(attempts=4, initial_delay=1.0)
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=multipart_chunksize,
                                       max_concurrency=max_concurrency)
        self.client = client or boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=60,
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> S3Store:
        """From a mapping with bucket, prefix, endpoint_url (and region); secrets refused."""
        secrets = [k for k in config if _SECRET_KEYS.search(k)]
        if secrets:
            raise S3Error(f"S3 configuration must not hold credentials ({', '.join(secrets)}):"
                          " use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials")
        if not config.get("bucket"):
            raise S3Error("S3 configuration needs a bucket")
        return cls(str(config["bucket"]), prefix=str(config.get("prefix", "cygno")),
                   endpoint_url=config.get("endpoint_url") or None,
                   region=config.get("region") or None, **kwargs)

    def key(self, run: int, name: str) -> str:
        return run_key(self.prefix, run, name)

    # -- operations ---------------------------------------------------------------------------
    def check(self) -> None:
        """Reach the bucket (retrying an unreachable endpoint); clear errors otherwise."""
        self._call("check bucket", lambda: self.client.head_bucket(Bucket=self.bucket))

    def upload(self, path: str | Path, run: int, name: str | None = None, *,
               metadata: Mapping[str, str] | None = None) -> StoredObject:
        """Upload a file as `{prefix}/run{run:05d}/{name}` and verify what was stored."""
        from s3transfer.utils import ChunksizeAdjuster

        source = Path(path)
        if not source.is_file():
            raise S3Error(f"no file to upload at {source}")
        key = self.key(run, name or source.name)
        size = source.stat().st_size
        multipart = size >= self.transfer.multipart_threshold
        part_size = (ChunksizeAdjuster().adjust_chunksize(self.transfer.multipart_chunksize,
                                                          size) if multipart else None)
        sha_hex, expected, parts = sha256_file(source, part_size)
        extra = {
            "ChecksumAlgorithm": "SHA256",
            "Metadata": {**(metadata or {}), "run": str(run), "sha256": sha_hex},
        }

        def send() -> None:
            self.client.upload_file(str(source), self.bucket, key, ExtraArgs=extra,
                                    Config=self.transfer)

        self._call(f"upload {key}", send)
        head = self._call(f"verify {key}", lambda: self.client.head_object(
            Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"))
        stored = str(head.get("ChecksumSHA256") or "")
        stored_size = int(head.get("ContentLength", -1))
        if stored.split("-")[0] != expected or stored_size != size:
            raise ChecksumMismatchError(
                f"s3://{self.bucket}/{key}: stored object differs from {source} "
                f"(size {stored_size} vs {size}, SHA-256 {stored or 'missing'} vs {expected})")
        log.info("uploaded %s (%d bytes, sha256 %s) to s3://%s/%s", source, size, sha_hex,
                 self.bucket, key)
        return StoredObject(self.bucket, key, size, sha_hex, stored, parts)

    def download(self, run: int, name: str, destination: str | Path) -> Path:
        """Download an object and check it against the SHA-256 in its metadata."""
        key = self.key(run, name)
        target = Path(destination)
        if target.is_dir():
            target = target / Path(name).name
        head = self._call(f"head {key}", lambda: self.client.head_object(
            Bucket=self.bucket, Key=key))
        self._call(f"download {key}", lambda: self.client.download_file(
            self.bucket, key, str(target), Config=self.transfer))
        expected = head.get("Metadata", {}).get("sha256")
        if expected:
            actual = sha256_file(target)[0]
            if actual != expected:
                target.unlink(missing_ok=True)
                raise ChecksumMismatchError(f"s3://{self.bucket}/{key}: downloaded bytes have "
                                            f"SHA-256 {actual}, metadata says {expected}")
        return target

    def metadata(self, run: int, name: str) -> dict[str, str]:
        key = self.key(run, name)
        head = self._call(f"head {key}", lambda: self.client.head_object(
            Bucket=self.bucket, Key=key))
        return dict(head.get("Metadata", {}))

    def list_run(self, run: int) -> list[str]:
        """Names stored for a run (relative to its folder)."""
        folder = run_key(self.prefix, run, "x")[:-1]
        names: list[str] = []

        def page_through() -> None:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                names.extend(item["Key"][len(folder):] for item in page.get("Contents", []))

        self._call(f"list {folder}", page_through)
        return sorted(names)

    # -- error handling -------------------------------------------------------------------------
    def _call(self, what: str, operation: Any) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        unreachable = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
        delays = self.retry.delays()
        attempt = 0
        where = f"s3://{self.bucket} at {self.endpoint_url or 'AWS'}"
        while True:
            attempt += 1
            try:
                return operation()
            except (NoCredentialsError, PartialCredentialsError):
                raise S3Error(f"{what}: no S3 credentials found (set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or an AWS config/credentials file)"
                              ) from None
            except ClientError as err:
                raise S3Error(f"{what} on {where}: {_client_error(err)}") from None
            except (S3UploadFailedError, *unreachable) as err:
                cause = err.__cause__ or err.__context__
                if isinstance(err, S3UploadFailedError) and isinstance(cause, ClientError):
                    raise S3Error(f"{what} on {where}: {_client_error(cause)}") from None
                delay = next(delays, None)
                message = credentials.scrub(str(err))
                if delay is None:
                    raise S3UnavailableError(f"{what}: {where} unreachable after {attempt} "
                                             f"attempts: {message}") from None
                log.warning("%s: %s unreachable (%s); attempt %d of %d, retrying in %.1f s",
                            what, where, message, attempt, self.retry.attempts, delay)
                time.sleep(delay)


def _client_error(err: Any) -> str:
    error = err.response.get("Error", {}) if hasattr(err, "response") else {}
    code = error.get("Code", "error")
    hints = {
        "InvalidAccessKeyId": "the access key is not known to the server",
        "SignatureDoesNotMatch": "the secret key does not match the access key",
        "AccessDenied": "access denied for these credentials",
        "NoSuchBucket": "the bucket does not exist",
        "404": "not found",
        "403": "access denied for these credentials",
    }
    return credentials.scrub(f"{code}: {hints.get(code, error.get('Message', ''))}")
