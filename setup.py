"""Packages found, not listed: each top-level folder installs under the one namespace cygno_mw.

setup.cfg holds the metadata; this file holds what setup.cfg cannot say: the folder ->
namespace mapping (every package below a mapped folder is found, so a new program's folder
is never left out of the wheel), and the commit a build was made from, written into the
built package (and into the sdist, whose wheel is built without a git checkout).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
# import prefix -> the folder it is installed from
NAMESPACE = {
    "cygno_mw": "cygno_mw",
    "cygno_mw.frontends": "frontends",
    "cygno_mw.analyzers": "analyzers",
    "cygno_mw.gpu": "gpu",
    "cygno_mw.odb_templates": "odb_templates",
}
COMMIT_FILE = "BUILD_COMMIT"  # inside cygno_mw/: read by cygno_mw.build_info


def namespace_packages() -> list[str]:
    packages = []
    for prefix, folder in NAMESPACE.items():
        packages.append(prefix)
        packages += [f"{prefix}.{name}" for name in find_packages(str(HERE / folder))]
    return sorted(set(packages))


def build_commit() -> str:
    """`git describe` of this checkout (as cygno_mw.build_info asks it), else the commit an
    sdist was stamped with, else 'unknown'."""
    if (HERE / ".git").exists():
        try:
            done = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty",
                                   "--tags"], capture_output=True, text=True, timeout=30)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    stamped = HERE / "cygno_mw" / COMMIT_FILE
    return stamped.read_text().strip() if stamped.is_file() else "unknown"


class BuildPyWithCommit(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "cygno_mw" / COMMIT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(build_commit() + "\n")


class SdistWithCommit(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "cygno_mw" / COMMIT_FILE
        target.unlink(missing_ok=True)  # a hard link to the checkout's, if one was there
        target.write_text(build_commit() + "\n")


if __name__ == "__main__":  # as setuptools runs it (tests/dist_contents.py imports it)
    setup(
        package_dir=NAMESPACE,
        packages=namespace_packages(),
        cmdclass={"build_py": BuildPyWithCommit, "sdist": SdistWithCommit},
    )
