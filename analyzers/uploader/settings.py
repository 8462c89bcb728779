"""The uploader's ODB: where it lives, its settings and their checks, its `Common` record.

Settings are read once, at start; a password written into `Database URL` is refused (the old
value put back, with a MIDAS message) at start and at once when written, because the ODB is
dumped into every run's first chunk and secrets never live there.
"""

from __future__ import annotations

import ctypes
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CLIENT_NAME = "Uploader"
EQUIPMENT = "/Equipment/Uploader"
SETTINGS_PATH = f"{EQUIPMENT}/Settings"
STATISTICS_PATH = f"{EQUIPMENT}/Statistics"
COMMON_PATH = f"{EQUIPMENT}/Common"
MIB = 1 << 20
DEFAULT_SETTINGS: dict[str, Any] = {
    "Buffer": "SYSTEM",
    "Spool dir": "uploader-spool",  # relative: in the experiment directory
    "Chunk max MB": 256.0,
    "Chunk max s": 60.0,
    "Spool limit MB": 20480.0,
    "Spool alarm percent": 80.0,
    "S3 endpoint URL": "",
    "S3 bucket": "",
    "S3 prefix": "cygno",
    "Database URL": "",  # empty: $CYGNO_DB_URL, else the analyzer's Output/database_url
    "Retry s": 5.0,
    "Statistics interval s": 2.0,
    "Transition timeout s": 10.0,
    "Alarm class": "Alarm",
    "Upload run files": True,  # mlogger's closed run files too (from /Logger/Data dir)
    "Run file min age s": 2.0,  # unchanged for this long after its run ended
}
GREEN, YELLOW, RED = "greenLight", "yellowLight", "redLight"


def install_settings(client: Any, name: str) -> dict[str, Any]:
    """Create what is missing in the ODB (settings, `Common`), mark the status `Starting`
    and return the settings, each known key with its ODB value, a refused URL replaced."""
    client.odb_set(SETTINGS_PATH, DEFAULT_SETTINGS, remove_unspecified_keys=False,
                   update_structure_only=True)
    present = client.odb_get(COMMON_PATH) if client.odb_exists(COMMON_PATH) else {}
    if not isinstance(present, Mapping) or "Frontend name" not in present:
        client.odb_set(COMMON_PATH, common_record(name), remove_unspecified_keys=False)
    client.odb_set(f"{COMMON_PATH}/Status", "Starting")  # until the first statistics
    client.odb_set(f"{COMMON_PATH}/Status color", YELLOW)
    values = client.odb_get(SETTINGS_PATH)
    settings = {**DEFAULT_SETTINGS, **{k: v for k, v in values.items()
                                       if not k.endswith("/key") and k in DEFAULT_SETTINGS}}
    settings["Database URL"] = checked_database_url(
        client, str(settings["Database URL"]), DEFAULT_SETTINGS["Database URL"])
    return settings


def checked_database_url(client: Any, url: str, old: str) -> str:
    """`url`, or `old` put back in the ODB (with a MIDAS message) when it holds a password:
    secrets never live in the ODB, whose dump goes into every run's first chunk."""
    from cygno_mw.redact import redact

    if redact(url) == url:
        return url
    client.msg(f"{SETTINGS_PATH}/Database URL: must not contain a password; put it "
               "in the environment variable CYGNO_DB_PASSWORD or a file named by "
               f"CYGNO_DB_PASSWORD_FILE; keeping {old!r}", True)
    client.odb_set(f"{SETTINGS_PATH}/Database URL", old)
    return old


def experiment_dir(client: Any) -> Path:
    """Where relative paths of the settings (spool, run files, SQLite) resolve."""
    env = os.environ.get("MIDAS_DIR")
    if env:
        return Path(env)
    return Path.cwd()


def common_record(name: str) -> dict[str, Any]:
    """/Equipment/Uploader/Common, as MIDAS frontends have it (so the status page lists it)."""
    def text(value: str, size: int) -> Any:
        return ctypes.create_string_buffer(value.encode()[:size - 1], size)

    return {
        "Event ID": ctypes.c_ushort(0), "Trigger mask": ctypes.c_ushort(0),
        "Buffer": text("SYSTEM", 32), "Type": ctypes.c_int32(0), "Source": ctypes.c_int32(0),
        "Format": text("MIDAS", 8), "Enabled": True, "Read on": ctypes.c_int32(0),
        "Period": ctypes.c_int32(0), "Event limit": ctypes.c_double(0),
        "Num subevents": ctypes.c_uint32(0), "Log history": ctypes.c_int32(0),
        "Frontend host": text(socket.gethostname(), 32), "Frontend name": text(name, 32),
        "Frontend file name": text("cygno-mw", 256), "Status": text("Starting", 256),
        "Status color": text(YELLOW, 32), "Hidden": False,
        "Write cache size": ctypes.c_int32(0),
    }
