"""One place that imports matplotlib (Agg backend) and writes figures as PNG or PDF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cygno_mw.errors import UsageError

FORMATS = (".png", ".pdf")
DPI = 110


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def new_figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (7.0, 4.5),
               **kwargs: Any) -> tuple[Any, Any]:
    """A figure and its axes (`plt.subplots`), sized for an elog post."""
    kwargs.setdefault("layout", "constrained")
    return pyplot().subplots(rows, cols, figsize=size, **kwargs)


def save(figure: Any, paths: Sequence[Path]) -> list[Path]:
    """Write `figure` to every path (format from the suffix) and close it."""
    written = []
    try:
        for path in paths:
            path = Path(path)
            if path.suffix.lower() not in FORMATS:
                raise UsageError(f"{path}: plots are written as .png or .pdf")
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=DPI, bbox_inches="tight")
            written.append(path)
    finally:
        pyplot().close(figure)
    return written
