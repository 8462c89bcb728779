"""S3 store against moto's standalone server: keys, metadata, checksums (single and multipart),
credentials only from the environment, outages."""

from __future__ import annotations

import hashlib
import logging
import os

import pytest
from servers import AWS_TEST_SECRET

from cygno_mw.analyzers.outputs import s3_store
from cygno_mw.analyzers.outputs.database import RetryPolicy
from cygno_mw.analyzers.outputs.errors import ChecksumMismatchError, S3Error, S3UnavailableError
from cygno_mw.analyzers.outputs.s3_store import S3Store, run_key

MIB = 1024 * 1024
SECRET = AWS_TEST_SECRET  # what the aws_env fixture puts in the environment


@pytest.fixture
def store(s3_server, aws_env) -> S3Store:
    s3_server.start()
    made = S3Store("cygno-data", prefix="lime", endpoint_url=s3_server.endpoint_url,
                   multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    made.client.create_bucket(Bucket="cygno-data")
    return made


@pytest.mark.s3
def test_single_part_upload_with_metadata(store, tmp_path) -> None:
    path = tmp_path / "run11021_pedestal.npz"
    path.write_bytes(b"pedestal map" * 1000)
    stored = store.upload(path, 11021, metadata={"kind": "pedestal"})
    assert stored.key == "lime/run11021/run11021_pedestal.npz"
    assert stored.url == "s3://cygno-data/lime/run11021/run11021_pedestal.npz"
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored.parts == 1
    assert store.metadata(11021, path.name) == {"run": "11021", "sha256": stored.sha256,
                                                "kind": "pedestal"}
    copy = store.download(11021, path.name, tmp_path / "copy.npz")
    assert copy.read_bytes() == path.read_bytes()


@pytest.mark.s3
def test_multipart_upload_is_verified(store, tmp_path) -> None:
    path = tmp_path / "run00042.mid.gz"
    path.write_bytes(os.urandom(11 * MIB + 123))
    stored = store.upload(path, 42, "raw/run00042.mid.gz")
    assert stored.parts == 3 and stored.key == "lime/run00042/raw/run00042.mid.gz"
    assert store.list_run(42) == ["raw/run00042.mid.gz"]
    download = store.download(42, "raw/run00042.mid.gz", tmp_path / "back")
    assert hashlib.sha256(download.read_bytes()).hexdigest() == stored.sha256


@pytest.mark.s3
def test_changed_object_is_detected_on_download(store, tmp_path) -> None:
    path = tmp_path / "map.npz"
    path.write_bytes(b"original")
    stored = store.upload(path, 7)
    # Someone replaces the bytes but keeps the old metadata.
    store.client.put_object(Bucket="cygno-data", Key=stored.key, Body=b"tampered",
                            Metadata={"run": "7", "sha256": stored.sha256})
    with pytest.raises(ChecksumMismatchError):
        store.download(7, "map.npz", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("run,name", [
    (1, "../escape"), (1, "a/../../b"), (1, "/abs"), (1, ".hidden"), (1, ""), (1, "a//b"),
    (1, "spaces in name"), (-1, "x"), ("5", "x"), (True, "x"), (1, "x\\y"), (1, "a/./b"),
])
def test_unsafe_keys_are_refused(run, name) -> None:
    with pytest.raises(S3Error):
        run_key("cygno", run, name)


def test_keys_are_built_from_run_numbers() -> None:
    assert run_key("cygno", 42, "pedestal.npz") == "cygno/run00042/pedestal.npz"
    assert run_key("/a/b/", 123456, "x.y") == "a/b/run123456/x.y"
    assert run_key("", 1, "f") == "run00001/f"
    with pytest.raises(S3Error):
        run_key("../up", 1, "f")


def test_config_may_not_hold_credentials() -> None:
    with pytest.raises(S3Error, match="must not hold credentials"):
        S3Store.from_config({"bucket": "b1b", "secret_key": "x"})
    with pytest.raises(S3Error, match="needs a bucket"):
        S3Store.from_config({"prefix": "p"})


@pytest.mark.s3
def test_missing_bucket_and_credentials_are_clear(s3_server, aws_env, monkeypatch,
                                                  tmp_path, caplog) -> None:
    s3_server.start()
    missing = S3Store("no-such-bucket", endpoint_url=s3_server.endpoint_url)
    with caplog.at_level(logging.DEBUG), pytest.raises(S3Error) as caught:
        missing.check()
    assert "no-such-bucket" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in caplog.text
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    anonymous = S3Store("cygno-data", endpoint_url=s3_server.endpoint_url,
                        retry=RetryPolicy(attempts=1))
    with pytest.raises(S3Error, match="no S3 credentials"):
        anonymous.check()


def test_unreachable_endpoint_is_retried_then_clear(aws_env, tmp_path, caplog) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    store = S3Store("cygno-data", endpoint_url="http://127.0.0.1:1",
                    retry=RetryPolicy(attempts=3, initial_delay=0.01))
    with caplog.at_level(logging.WARNING), pytest.raises(S3UnavailableError) as caught:
        store.upload(path, 1)
    assert "unreachable after 3 attempts" in str(caught.value)
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


@pytest.mark.s3
def test_upload_survives_an_outage(s3_server, aws_env, tmp_path) -> None:
    """The store is down when the upload starts and comes back while we retry."""
    path = tmp_path / "run00050.mid.gz"
    path.write_bytes(os.urandom(1000))
    s3_server.start()
    store = S3Store("cygno-data", endpoint_url=s3_server.endpoint_url,
                    retry=RetryPolicy(attempts=30, initial_delay=0.1, max_delay=1.0))

    restarted: list[bool] = []

    class RestartOnRetry(logging.Handler):
        """Brings the store back (with its bucket: moto keeps them in memory) when the upload
        first reports the outage, before its next attempt."""

        def emit(self, record: logging.LogRecord) -> None:
            if not restarted and "retrying" in record.getMessage():
                restarted.append(True)
                s3_server.start()
                store.client.create_bucket(Bucket="cygno-data")

    handler = RestartOnRetry(logging.WARNING)
    logging.getLogger(s3_store.__name__).addHandler(handler)
    s3_server.stop()
    try:
        stored = store.upload(path, 50)
    finally:
        logging.getLogger(s3_store.__name__).removeHandler(handler)
        s3_server.start()
    assert restarted, "the outage was not seen"
    assert store.metadata(50, path.name)["sha256"] == stored.sha256
