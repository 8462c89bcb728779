"""`import cygno_mw; db = cygno_mw.connect()`; the example notebook on the demo's results."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cygno_mw
from cygno_mw.cli import main

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "first_look.ipynb"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home") / "cygno-out"
    assert main(["demo", "-q", "--no-plots", "-o", str(home), "--events", "3",
                 "--pedestal-events", "3"]) == 0
    return home


def test_import_is_cheap() -> None:
    """`import cygno_mw` loads neither SQLAlchemy nor pandas (connect() does)."""
    code = ("import sys, cygno_mw; "
            "print(sorted({'sqlalchemy', 'pandas', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_connect_finds_the_default_and_says_so(demo_home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    monkeypatch.delenv("CYGNO_MW_HOME", raising=False)
    # a notebook in a subfolder of the folder holding cygno-out/
    notebook_dir = demo_home.parent / "examples"
    notebook_dir.mkdir(exist_ok=True)
    monkeypatch.chdir(notebook_dir)
    db = cygno_mw.connect()
    assert str(demo_home / "cygno.sqlite") in capsys.readouterr().err
    assert list(db.runs()["run"]) == [1, 2]
    macro = db.macro(2)
    assert "timings" not in macro.columns
    assert macro["timings_total"].dtype == "float64" and (macro["timings_total"] > 0).all()
    chosen = db.macro(2, columns=["event", "timings_total", "timings_seeding"])
    assert list(chosen.columns) == ["event", "timings_total", "timings_seeding"]
    assert chosen["timings_total"].tolist() == macro["timings_total"].tolist()

    monkeypatch.chdir(tmp_path)  # nothing here or above: $CYGNO_MW_HOME names the folder
    monkeypatch.setenv("CYGNO_MW_HOME", str(demo_home))
    assert len(cygno_mw.connect(announce=False).reco(2)) > 0
    monkeypatch.setenv("CYGNO_DB_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert "other.sqlite" in repr(cygno_mw.connect())
    assert "$CYGNO_DB_URL" in capsys.readouterr().err
    explicit = cygno_mw.connect(f"sqlite:///{demo_home / 'cygno.sqlite'}")
    assert len(explicit.pedestals()) == 1


def test_example_notebook_runs(demo_home: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook under examples/ runs top to bottom in this virtualenv's Python."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    kernels = tmp_path / "jupyter" / "kernels" / "cygno-venv"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cygno-mw venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("CYGNO_MW_HOME", str(demo_home))
    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name="cygno-venv", timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "clusters pass the cut" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the spectrum was drawn
    # one fit: the notebook prints what `cygno-mw plot spectrum` prints for the same cut

    capsys_lines = tmp_path / "cli.txt"
    with open(capsys_lines, "w") as out, contextlib.redirect_stdout(out):
        assert main(["plot", "spectrum", "2", "--where", "sc_length < 80", "--db",
                     f"sqlite:///{demo_home / 'cygno.sqlite'}",
                     "-o", str(tmp_path / "s.png")]) == 0
    printed = capsys_lines.read_text().splitlines()[0]
    assert "pass replay" in printed and "chi2/ndf" in printed
    assert printed in text
