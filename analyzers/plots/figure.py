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


DESCRIPTION_KEY = "Description"  # PNG text chunk: what the picture shows, in words


def save(figure: Any, paths: Sequence[Path], description: str | None = None) -> list[Path]:
    """Write `figure` to every path (format from the suffix) and close it.  `description`
    (what it shows: the numbers and titles) goes into the PNG's Description text and the
    PDF's Subject, so a test can tell a picture made by older code (see `description_of`)."""
    written = []
    try:
        for path in paths:
            path = Path(path)
            suffix = path.suffix.lower()
            if suffix not in FORMATS:
                raise UsageError(f"{path}: plots are written as .png or .pdf")
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata = None
            if description is not None:
                metadata = {DESCRIPTION_KEY if suffix == ".png" else "Subject": description}
            figure.savefig(path, dpi=DPI, bbox_inches="tight", metadata=metadata)
            written.append(path)
    finally:
        pyplot().close(figure)
    return written


def description_of(png: Path) -> str | None:
    """The Description a PNG was saved with (None: none)."""
    from PIL import Image

    with Image.open(png) as image:
        return image.info.get(DESCRIPTION_KEY)
