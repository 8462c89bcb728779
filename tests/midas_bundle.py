"""The real MIDAS build the tests run against: `<repo>/../shared/midas/midas-*.tar.xz`
(or `$CYGNO_SHARED/midas`), unpacked once into a cache outside the checkout.

    python tests/midas_bundle.py     # unpack if needed, print MIDASSYS (used by .ci/test)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("CYGNO_SHARED", REPO.parent / "shared"))


def bundle_path() -> Path | None:
    """The newest MIDAS bundle in the shared folder, or None when there is none."""
    bundles = sorted((shared_dir() / "midas").glob("midas-*.tar.xz"))
    return bundles[-1] if bundles else None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cygno-mw"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def unpacked_midas(bundle: Path) -> Path:
    """MIDASSYS for `bundle`: `<cache>/midas-<hash>/midas`, unpacked once (under a lock, so
    parallel test runs share one copy; a half-unpacked folder is never used)."""
    target = cache_root() / f"midas-{_digest(bundle)}"
    midassys = target / "midas"
    if (midassys / "bin" / "odbinit").exists():
        return midassys
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (midassys / "bin" / "odbinit").exists():
            scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
            try:
                with tarfile.open(bundle) as archive:
                    archive.extractall(scratch, filter="data")
                for binary in (scratch / "midas" / "bin").iterdir():
                    binary.chmod(0o755)
                if target.exists():
                    shutil.rmtree(target)
                scratch.rename(target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return midassys


if __name__ == "__main__":
    found = bundle_path()
    if found is None:
        sys.exit(1)
    print(unpacked_midas(found))
