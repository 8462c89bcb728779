"""The README's pictures are what the current code draws: made again by the demo, their
Descriptions (numbers, titles, axes, boxes) equal those of docs/demo_*.png (issue 24)."""

from __future__ import annotations

from pathlib import Path

from cygno_mw.analyzers.plots.figure import description_of
from cygno_mw.analyzers.plots.readme_pictures import PICTURES, make

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_readme_pictures_are_current(tmp_path: Path) -> None:
    made = make(tmp_path / "docs", tmp_path / "demo")
    for name in PICTURES:
        fresh = description_of(made[name])
        assert fresh, name
        assert description_of(DOCS / name) == fresh, (
            f"docs/{name} was drawn by older code: run "
            "`python -m cygno_mw.analyzers.plots.readme_pictures` and commit the pictures")
    spectrum = description_of(made["demo_spectrum.png"])
    event = description_of(made["demo_event.png"])
    assert "pass replay" in spectrum and "chi2/ndf" in spectrum
    assert "sc_x" in event and "sc_y" in event and "pass replay" in event
