"""Where the uploader sends things, built from its settings: the S3 store and SQL engine of
the chunk shipper, and mlogger's run-file folder.

An unreachable database at start is said, not fatal: the shipper's SQL step retries later,
so chunks are spooled meanwhile. Credentials never come from the ODB (see settings.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .runfiles import RunFileShipper
from .settings import SETTINGS_PATH, experiment_dir
from .shipper import Shipper
from .spool import ChunkSpool


def make_shipper(client: Any, name: str, settings: dict[str, Any], spool: ChunkSpool
                 ) -> Shipper:
    """The chunk shipper to the settings' S3 bucket and database (migrated when it answers)."""
    from cygno_mw.analyzers.outputs import credentials, migrate
    from cygno_mw.analyzers.outputs.database import RetryPolicy, create_db_engine
    from cygno_mw.analyzers.outputs.s3_store import S3Store

    if not str(settings["S3 bucket"]).strip():
        client.msg(f"{name}: {SETTINGS_PATH}/S3 bucket is empty; chunks stay "
                   "in the spool until it is set (and the uploader restarted)", True)
    store = S3Store(str(settings["S3 bucket"]).strip() or "unset",
                    prefix=str(settings["S3 prefix"]),
                    endpoint_url=str(settings["S3 endpoint URL"]).strip() or None,
                    retry=RetryPolicy(attempts=1, initial_delay=0.5))
    url = str(settings["Database URL"]).strip() or analyzer_database_url(client)
    engine = create_db_engine(credentials.resolve_url(url))
    try:
        migrate.upgrade(engine)
    except Exception as exc:  # unreachable now: the shipper's SQL step retries later
        client.msg(f"{name}: database {credentials.safe_url(url)} not ready "
                   f"({str(exc).splitlines()[0]}); chunks are spooled", True)
    return Shipper(spool, store, engine)


def run_file_shipper(client: Any, settings: dict[str, Any], shipper: Shipper
                     ) -> RunFileShipper | None:
    """mlogger's data folder, when run files are to be uploaded too."""
    path = "/Logger/Data dir"
    if not settings["Upload run files"] or not client.odb_exists(path):
        return None
    folder = Path(str(client.odb_get(path)) or ".")
    if not folder.is_absolute():
        folder = experiment_dir(client) / folder
    return RunFileShipper(shipper.store, shipper.engine, folder,
                          min_age_s=float(settings["Run file min age s"]))


def analyzer_database_url(client: Any) -> str:
    """$CYGNO_DB_URL, else the online analyzer's database (a relative SQLite path taken in
    the experiment directory), else the default: chunks are recorded next to the runs."""
    from cygno_mw.analyzers.outputs.database import default_url

    env = os.environ.get("CYGNO_DB_URL")
    if env:
        return env
    path = "/Analyzer/Parameters/Output/database_url"
    if client.odb_exists(path):
        url = str(client.odb_get(path))
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = f"sqlite:///{experiment_dir(client) / url[len('sqlite:///'):]}"
        return url
    return default_url()
