"""The ODB dumps the uploader writes into chunks (the whole ODB at a run's start, /Runinfo at
its end), as plain JSON-able values with any URL password hidden: they go to S3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def odb_snapshot(client: Any, paths: tuple[str, ...] = ("/",)) -> dict[str, Any]:
    """The whole ODB, or the named subtrees keyed by their path without slashes."""
    if paths == ("/",):
        return plain(client.odb_get("/"))
    return {p.strip("/"): plain(client.odb_get(p)) for p in paths}


def plain(value: Any) -> Any:
    """An ODB value from odb_get as JSON-able Python (ctypes and bytes as plain values), with
    any password in a URL hidden: the dump goes to S3 in the run's first chunk."""
    from cygno_mw.redact import redact

    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return redact(value)
    return value
