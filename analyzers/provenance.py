"""What made a result: the `passes` row of a processing pass, built from the analyzer's
parameters, and the same facts for the reco file's metadata.

The parameters hash covers what changes results: every Reco parameter except how it is
executed (`backend`, `batch_size`) and the content of the vignetting map. The version
and the source revision are `cygno-mw --version`'s (cygno_mw.build_info).
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cygno_mw import build_info
from cygno_mw.analyzers.file_digest import file_hexdigest
from cygno_mw.analyzers.outputs.passes import EXECUTION_ONLY
from cygno_mw.analyzers.parameters import AnalyzerParameters
from cygno_mw.redact import redact_parameters

PROVENANCE_KEY = "cygno.provenance"  # Parquet metadata key / ROOT TObjString name


def package_version() -> str:
    return build_info.version()


def source_revision() -> str:
    """The commit the code was built from (cygno_mw.build_info: `git describe` of a
    checkout, else the commit a wheel was built from), as `cygno-mw --version` prints it."""
    return build_info.revision()


@functools.lru_cache(maxsize=16)
def vignette_identity(value: str) -> str:
    """`builtin`, `none`, or `sha256:<hex>` of the map file's content."""
    text = str(value).strip()
    if text.lower() in ("builtin", "none"):
        return text.lower()
    path = Path(text).expanduser()
    if not path.is_file():
        return f"missing:{text}"
    return f"sha256:{file_hexdigest(path, 'sha256')}"


def parameters_hash(reco: Mapping[str, Any], vignette: str) -> str:
    """sha256 of the result-changing Reco parameters and the vignetting map's identity."""
    relevant = {k: v for k, v in reco.items() if k not in EXECUTION_ONLY}
    text = json.dumps({"reco": relevant, "vignette": vignette}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def pass_record(params: AnalyzerParameters, backend: str | None) -> dict[str, Any]:
    """Columns of the `passes` row (all but the name, status and times).  The parameters
    are stored with every password or token hidden (a database URL from `$CYGNO_DB_URL`
    may hold one); the reco files' provenance is made from this row."""
    reco = params.reco.to_mapping()
    vignette = vignette_identity(str(reco.get("vignette_map", "builtin")))
    return {
        "version": package_version(),
        "revision": source_revision(),
        "parameters": json.dumps(redact_parameters(params.to_odb()), sort_keys=True),
        "parameters_hash": parameters_hash(reco, vignette),
        "backend": backend,
        "vignette_map": str(reco.get("vignette_map", "")),
        "vignette_sha256": vignette,
        "started_by": _user(),
        "host": socket.gethostname(),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def file_provenance(pass_row: Mapping[str, Any], run: int,
                    pedestals: Mapping[str, Mapping[str, Any]] | None, *,
                    backend: str | None = None) -> dict[str, Any]:
    """What a reco file carries in its metadata: the pass row, the run, the backend that
    processed it and its pedestal maps."""
    keep = ("pass_name", "version", "revision", "parameters", "parameters_hash", "backend",
            "vignette_map", "vignette_sha256", "started_by", "host", "started_at")
    out = {k: _plain(pass_row.get(k)) for k in keep}
    out["run"] = int(run)
    if backend:
        out["backend"] = backend
    out["pedestals"] = {str(k): dict(v) for k, v in (pedestals or {}).items()}
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
