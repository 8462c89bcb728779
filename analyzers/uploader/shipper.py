"""Moving spooled chunks to S3 and into the `chunks` table, strictly in order.

For the oldest chunk: `ready` -> upload (skipped when S3 already holds the same bytes, as
after a kill between the upload and the manifest update: head_object compares size and the
SHA-256 in the object's metadata) -> manifest `stored` -> SQL row (written once; a row that
is already there with the same checksum is the same chunk) -> removed from the spool. Any
step may be cut by a kill; redoing it from the manifest's state never uploads twice and
never writes a second row. When S3 or the database is unreachable, `ship_one` says so and
leaves the chunk in the spool; the caller waits `retry_s` before the next try.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cygno_mw.analyzers.outputs import schema
from cygno_mw.analyzers.outputs.errors import OutputError, S3Error, S3UnavailableError
from cygno_mw.analyzers.outputs.s3_store import S3Store

from .spool import READY, STORED, ChunkManifest, ChunkSpool, is_disk_full

log = logging.getLogger(__name__)


class ChunkConflictError(OutputError):
    """SQL already records this (run, sequence) with a different checksum."""


@dataclass
class ShipResult:
    shipped: ChunkManifest | None = None
    waiting_for: str = ""  # "S3" or "database" when unreachable; "" otherwise
    error: str = ""
    uploaded: bool = False  # bytes were sent (not found already stored)


class Shipper:
    """Uploads and records the spool's chunks, one at a time, oldest first."""

    def __init__(self, spool: ChunkSpool, store: S3Store, engine: sa.engine.Engine) -> None:
        self.spool = spool
        self.store = store
        self.engine = engine

    def key(self, manifest: ChunkManifest) -> str:
        return self.store.key(manifest.run, f"chunks/{manifest.name}")

    def ship_one(self) -> ShipResult:
        """Move the oldest chunk on; a ShipResult says what happened (nothing pending: empty)."""
        pending = self.spool.pending()
        if not pending:
            return ShipResult()
        manifest = pending[0]
        uploaded = False
        try:
            if manifest.status == READY:
                uploaded = self._store(manifest)
            self._record(manifest)
        except S3UnavailableError as exc:
            return ShipResult(waiting_for="S3", error=str(exc))
        except ChunkConflictError:
            raise
        except S3Error as exc:
            return ShipResult(waiting_for="S3", error=str(exc))
        except (OutputError, sa.exc.DBAPIError) as exc:
            return ShipResult(waiting_for="database", error=str(exc).splitlines()[0])
        self.spool.remove(manifest)
        return ShipResult(shipped=manifest, uploaded=uploaded)

    def _store(self, manifest: ChunkManifest) -> bool:
        """Put the chunk on S3 unless it is there already; True when bytes were sent."""
        key = self.key(manifest)
        if self._already_stored(key, manifest):
            log.info("%s already on S3 (verified by size and SHA-256): not sent again", key)
            uploaded = False
        else:
            stored = self.store.upload(self.spool.path(manifest), manifest.run,
                                       f"chunks/{manifest.name}",
                                       metadata={"sequence": str(manifest.sequence),
                                                 "events": str(manifest.events)})
            if stored.sha256 != manifest.sha256:
                raise S3Error(f"{key}: the spooled file changed since it was closed "
                              f"({stored.sha256} vs {manifest.sha256})")
            uploaded = True
        manifest.status = STORED
        manifest.s3_url = f"s3://{self.store.bucket}/{key}"
        try:
            self.spool.save(manifest)
        except OSError as exc:  # a full disk: go on; redone, head_object finds it on S3
            if not is_disk_full(exc):
                raise
        return uploaded

    def _already_stored(self, key: str, manifest: ChunkManifest) -> bool:
        from botocore.exceptions import ClientError

        def head() -> Any:
            try:
                return self.store.client.head_object(Bucket=self.store.bucket, Key=key)
            except ClientError as err:
                code = str(err.response.get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

        found = self.store._call(f"head {key}", head)
        return (found is not None and int(found.get("ContentLength", -1)) == manifest.bytes
                and found.get("Metadata", {}).get("sha256") == manifest.sha256)

    def _record(self, manifest: ChunkManifest) -> None:
        table = schema.chunks
        row = {
            "run": manifest.run, "sequence": manifest.sequence, "s3_key": manifest.s3_url,
            "serials": json.dumps(manifest.serials, sort_keys=True),
            "events": manifest.events, "bytes": manifest.bytes, "sha256": manifest.sha256,
            "status": "uploaded", "last_chunk": bool(manifest.last_chunk),
            "opened_at": _utc(manifest.opened_at), "closed_at": _utc(manifest.closed_at),
            "uploaded_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        }
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(table.c.sha256).where(table.c.run == manifest.run,
                                                table.c.sequence == manifest.sequence)
            ).scalar_one_or_none()
            if existing is None:
                conn.execute(table.insert().values(**row))
            elif existing != manifest.sha256:
                raise ChunkConflictError(
                    f"chunks: run {manifest.run} chunk {manifest.sequence} is recorded with "
                    f"SHA-256 {existing}, the spooled file has {manifest.sha256}")


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
