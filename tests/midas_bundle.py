"""The real MIDAS build the tests run against: the one `$MIDASSYS` names when it is set and
holds a build (a DAQ machine's own MIDAS), else `<repo>/../shared/midas/midas-*.tar.xz` (or
`$CYGNO_SHARED/midas`), unpacked once into a cache outside the checkout.

    python tests/midas_bundle.py     # print MIDASSYS (unpacking if needed; used by .ci/test)
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


def env_midassys() -> Path | None:
    """$MIDASSYS when it is set and holds a MIDAS build (bin/odbinit and python/)."""
    text = os.environ.get("MIDASSYS", "").strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if (path / "bin" / "odbinit").is_file() and (path / "python").is_dir():
        return path
    return None


def midas_source() -> str | None:
    """Where the MIDAS build comes from, in words, or None when there is none."""
    if env_midassys() is not None:
        return f"$MIDASSYS={env_midassys()}"
    bundle = bundle_path()
    if bundle is not None:
        return f"{bundle}"
    return None


def missing_reason() -> str:
    """Why there is no MIDAS build, and where it was looked for."""
    text = os.environ.get("MIDASSYS", "").strip()
    env = (f"$MIDASSYS={text} holds no MIDAS build (bin/odbinit, python/)" if text
           else "$MIDASSYS is not set")
    return (f"no MIDAS build: {env}, and there is no {shared_dir() / 'midas'}/midas-*.tar.xz "
            "(set MIDASSYS, or CYGNO_SHARED to the folder holding midas/)")


def find_midassys() -> Path | None:
    """MIDASSYS for the tests: $MIDASSYS first, else the bundle unpacked; None: neither."""
    found = env_midassys()
    if found is not None:
        return found
    bundle = bundle_path()
    return None if bundle is None else unpacked_midas(bundle)


if __name__ == "__main__":
    midassys = find_midassys()
    if midassys is None:
        print(f"midas_bundle: {missing_reason()}", file=sys.stderr)
        sys.exit(1)
    print(f"midas_bundle: MIDAS from {midas_source()}", file=sys.stderr)
    print(midassys)
