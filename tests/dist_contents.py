"""What the built wheel and sdist must hold: every package and data file of the tree.

    python tests/dist_contents.py DIST_DIR    # checks the one wheel and sdist in DIST_DIR

The wheel holds every file git tracks under the folders setup.py maps into the cygno_mw
namespace (modules, Alembic migrations, ODB templates, the custom page, ...), at its
namespaced path, and the commit it was built from; the sdist holds every tracked file.
Used by tests/test_packaging.py and by .ci/wheel on the files it built.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
NOT_IN_SDIST = {".gitignore"}  # repository housekeeping, not source


def setup_module() -> ModuleType:
    """setup.py, imported (its setup() runs only as a script)."""
    spec = importlib.util.spec_from_file_location("cygno_mw_setup", REPO / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def namespace() -> dict[str, str]:
    """setup.py's import prefix -> folder mapping (setup.py is the one place it is said)."""
    return dict(setup_module().NAMESPACE)


def tracked_files() -> list[str]:
    """The tree's files: what git tracks (a clean clone), else every file but caches."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True,
                              check=True, timeout=60)
        return sorted(p for p in done.stdout.decode().split("\0")
                      if p and (REPO / p).is_file())
    except (OSError, subprocess.SubprocessError):
        return sorted(str(p.relative_to(REPO)) for p in REPO.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts
                      and not p.relative_to(REPO).parts[0].startswith(".venv"))


def expected_in_wheel(files: list[str]) -> set[str]:
    """Each tracked file under a mapped folder, at its path inside the wheel."""
    expected = {"cygno_mw/BUILD_COMMIT"}
    for prefix, folder in namespace().items():
        target = prefix.replace(".", "/")
        for path in files:
            if path.startswith(folder + "/"):
                expected.add(target + path[len(folder):])
    return expected


def missing_from_wheel(wheel: Path, files: list[str] | None = None) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    return sorted(expected_in_wheel(files or tracked_files()) - inside)


def missing_from_sdist(sdist: Path, files: list[str] | None = None) -> list[str]:
    with tarfile.open(sdist) as archive:
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = set(files or tracked_files()) - NOT_IN_SDIST
    return sorted(wanted - inside)


def check(dist_dir: Path) -> list[str]:
    """Problems with the wheel and sdist in `dist_dir` (empty: complete)."""
    wheels = sorted(dist_dir.glob("cygno_mw-*.whl"))
    sdists = sorted(dist_dir.glob("cygno[-_]mw-*.tar.gz"))  # old setuptools: cygno-mw-
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{dist_dir}: expected one wheel and one sdist, found "
                f"{[p.name for p in wheels + sdists]}"]
    files = tracked_files()
    problems = [f"{wheels[0].name} lacks {p}" for p in missing_from_wheel(wheels[0], files)]
    problems += [f"{sdists[0].name} lacks {p}" for p in missing_from_sdist(sdists[0], files)]
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]))
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{sys.argv[1]}: the wheel holds every package and data file of the tree, "
              "the sdist every tracked file")
    sys.exit(1 if found else 0)
