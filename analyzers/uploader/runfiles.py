"""mlogger's closed run files to S3, as the experiment's `midas2cloud` does, with a spool-free
record: the file in mlogger's data folder is the copy that waits.

A run file (`runNNNNN.mid[.lz4|.gz|.bz2]` in `/Logger/Data dir`) is taken once its run has
ended and it has not changed for `min_age_s`. Its MD5 is compared with the Run row's
`file_checksum` when the row has one (a mismatch is reported and the file left alone: the
file on disk is not what was recorded); it is uploaded to `{prefix}/runNNNNN/<name>` with
the server-checked SHA-256 (skipped when S3 holds the same bytes already), then the Run row
gets `storage_cloud_status` = 1 (on the cloud), `file_size`, `file_checksum` (MD5) and
`file_s3_tag` (the object's SHA-256, base64 as S3 keeps it). A row with status 1 is done.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from cygno_mw.analyzers.file_digest import file_hexdigest
from cygno_mw.analyzers.outputs import schema
from cygno_mw.analyzers.outputs.errors import OutputError, S3Error
from cygno_mw.analyzers.outputs.s3_store import S3Store

log = logging.getLogger(__name__)

RUN_FILE = re.compile(r"^run(\d+)\.mid(\.lz4|\.gz|\.bz2)?$")
ON_CLOUD = 1  # storage_cloud_status of a run whose file is on S3, verified


@dataclass
class RunFileResult:
    run: int
    name: str
    uploaded: bool = False  # bytes were sent (False: S3 had them already)
    error: str = ""  # why it was not done (checksum mismatch, S3/SQL unreachable)


class RunFileShipper:
    """Uploads closed run files of one data folder and marks their Run rows."""

    def __init__(self, store: S3Store, engine: sa.engine.Engine, data_dir: Path, *,
                 min_age_s: float = 2.0) -> None:
        self.store = store
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.min_age_s = min_age_s
        self.done: set[int] = set()
        self.refused: dict[int, str] = {}  # run -> why (reported once)

    def candidates(self, open_run: int | None) -> list[tuple[int, Path]]:
        """Closed run files not known to be done, oldest run first."""
        now = time.time()
        found = []
        for path in self.data_dir.glob("run*.mid*"):
            match = RUN_FILE.match(path.name)
            if match is None:
                continue
            run = int(match.group(1))
            if run == open_run or run in self.done or run in self.refused:
                continue
            if now - path.stat().st_mtime < self.min_age_s:
                continue
            found.append((run, path))
        return sorted(found)

    def ship(self, open_run: int | None, limit: int = 1) -> list[RunFileResult]:
        """Handle up to `limit` closed run files; `open_run` is the run mlogger may still write."""
        results = []
        for run, path in self.candidates(open_run)[:limit]:
            results.append(self.ship_file(run, path))
        return results

    def ship_file(self, run: int, path: Path) -> RunFileResult:
        result = RunFileResult(run, path.name)
        try:
            row = self._row(run)
            if row is not None and row.get("storage_cloud_status") == ON_CLOUD:
                self.done.add(run)
                return result
            md5 = file_hexdigest(path, "md5")
            recorded = (row or {}).get("file_checksum")
            if recorded and recorded != md5:
                result.error = (f"run {run}: {path.name} has MD5 {md5}, the Run row says "
                                f"{recorded}: not uploaded")
                self.refused[run] = result.error
                return result
            key = self.store.key(run, path.name)
            head = self._head(key)
            size = path.stat().st_size
            if head is not None and int(head.get("ContentLength", -1)) == size and \
                    head.get("Metadata", {}).get("md5") == md5:
                tag = str(head.get("ChecksumSHA256") or head["Metadata"].get("sha256", ""))
            else:
                stored = self.store.upload(path, run, path.name, metadata={"md5": md5})
                tag = stored.checksum_sha256
                result.uploaded = True
            self._mark(run, md5, size, tag)
            self.done.add(run)
        except (S3Error, OutputError, sa.exc.DBAPIError) as exc:
            result.error = str(exc).splitlines()[0]
        return result

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        def head() -> dict | None:
            try:
                return self.store.client.head_object(Bucket=self.store.bucket, Key=key,
                                                     ChecksumMode="ENABLED")
            except ClientError as err:
                if str(err.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey"):
                    return None
                raise

        return self.store._call(f"head {key}", head)

    def _row(self, run: int) -> dict | None:
        runs = schema.runs
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.storage_cloud_status, runs.c.file_checksum)
                               .where(runs.c.run == run)).first()
        return None if row is None else dict(row._mapping)

    def _mark(self, run: int, md5: str, size: int, tag: str) -> None:
        runs = schema.runs
        values = {"storage_cloud_status": ON_CLOUD, "file_checksum": md5, "file_size": size,
                  "file_s3_tag": tag[:64],
                  "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
        with self.engine.begin() as conn:
            updated = conn.execute(runs.update().where(runs.c.run == run).values(**values))
            if updated.rowcount == 0:
                conn.execute(runs.insert().values(run=run, **values))
