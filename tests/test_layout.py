"""The tree is one folder per program, and no program imports another program's folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# folder -> the import prefix of its modules
PROGRAMS = {
    "frontends/camera": "cygno_mw.frontends.camera",
    "frontends/pmt": "cygno_mw.frontends.pmt",
    "frontends/slow_control": "cygno_mw.frontends.slow_control",
    "analyzers/online": "cygno_mw.analyzers.online",
    "analyzers/replay": "cygno_mw.analyzers.replay",
    "analyzers/uploader": "cygno_mw.analyzers.uploader",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("folder", sorted(PROGRAMS))
def test_a_program_imports_no_other_program(folder):
    others = [prefix for other, prefix in PROGRAMS.items() if other != folder]
    for path in (REPO / folder).rglob("*.py"):
        for name in imported_modules(path):
            assert not any(_within(name, o) for o in others), f"{path}: imports {name}"


@pytest.mark.parametrize("folder", ["analyzers", "gpu", "cygno_mw"])
def test_shared_code_imports_no_frontend(folder):
    for path in (REPO / folder).rglob("*.py"):
        if path.parent.name == "cli":  # the command line starts every program
            continue
        for name in imported_modules(path):
            assert not _within(name, "cygno_mw.frontends"), f"{path}: imports {name}"


def test_shared_analyzer_code_imports_no_analyzer_program():
    for path in (REPO / "analyzers").glob("*.py"):
        for name in imported_modules(path):
            assert not _within(name, "cygno_mw.analyzers.online"), f"{path}: imports {name}"
            assert not _within(name, "cygno_mw.analyzers.replay"), f"{path}: imports {name}"


def test_no_module_name_carries_a_program_prefix():
    """A prefix on a file name is a folder that was never made."""
    for top in ("analyzers", "frontends"):
        for path in (REPO / top).glob("*.py"):
            assert not path.stem.startswith(("online_", "camera_", "pmt_", "slow_control_",
                                             "replay_")), path
