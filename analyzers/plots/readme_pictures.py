"""The README's two pictures, made by the demo with the current code.

    python -m cygno_mw.analyzers.plots.readme_pictures          # rewrites docs/demo_*.png

`docs/demo_spectrum.png` is the demo's spectrum of its physics run, `docs/demo_event.png` its
event display of the image with the most clusters.  Each PNG carries a Description (its
numbers, title, axes and boxes in words: see figure.save); tests/test_readme_pictures.py
makes them again and fails when the README shows pictures older code drew.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

PICTURES = {"demo_spectrum.png": "run00002_spectrum.png", "demo_event.png": "run00002_event*.png"}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def make(target_dir: Path, work_dir: Path) -> dict[str, Path]:
    """Run the demo (default size) in `work_dir`; copy its two pictures into `target_dir`."""
    from cygno_mw.analyzers.replay.demo import DemoOptions, run_demo

    run_demo(DemoOptions(output_dir=work_dir, say=lambda _line: None))
    target_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, pattern in PICTURES.items():
        found = sorted((work_dir / "plots").glob(pattern))
        if len(found) != 1:
            raise RuntimeError(f"the demo drew {len(found)} pictures {pattern}, not one")
        made[name] = Path(shutil.copyfile(found[0], target_dir / name))
    return made


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS
    with tempfile.TemporaryDirectory(prefix="cygno-readme-pictures-") as work:
        for name, path in make(target, Path(work) / "demo").items():
            print(f"wrote {path} ({name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
