"""Clusters per image and light per image along a run (the `macro` table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

from . import figure
from .pass_label import PassShown, pass_shown
from .spectrum import runs_label


@dataclass
class TrendResult:
    runs: list[int]
    events: np.ndarray
    nclusters: np.ndarray
    light: np.ndarray  # cmos_integral: total light of the zero-suppressed image
    paths: list[Path] = field(default_factory=list)
    pass_shown: PassShown | None = None


def draw_trend(db: Any, runs: Sequence[int], paths: Sequence[Path], *,
               camera: int | None = None, pass_: str | None = None) -> TrendResult:
    """Two panels sharing the image axis: clusters per image and light per image, of one
    pass (`pass_`, else the runs' default pass), named in the title."""
    shown = pass_shown(db, [int(r) for r in runs], pass_)
    frame = db.macro([int(r) for r in runs], camera=camera, pass_=shown.name,
                     columns=["run", "camera", "event", "time", "nclusters", "cmos_integral"])
    if frame.empty:
        raise CygnoError(f"no images of {runs_label(runs)} in the macro table: nothing to plot")
    frame = frame.sort_values(["run", "event", "camera"]).reset_index(drop=True)
    single = frame["run"].nunique() == 1
    index = frame["event"].to_numpy() if single else np.arange(len(frame))
    fig, (top, bottom) = figure.new_figure(2, 1, size=(8.0, 5.5), sharex=True)
    fig.suptitle(f"{runs_label(runs)}: {len(frame)} images\n{shown.title()}", fontsize=10)
    for camera_id, rows in frame.groupby("camera"):
        label = f"camera {camera_id}"
        top.plot(index[rows.index], rows["nclusters"], "o-", ms=3, lw=1, label=label)
        bottom.plot(index[rows.index], rows["cmos_integral"], "o-", ms=3, lw=1, label=label)
    top.set_ylabel("clusters per image")
    bottom.set_ylabel("light per image (ADU)")
    bottom.set_xlabel("event (MIDAS serial number)" if single else "image (in run order)")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    if frame["camera"].nunique() > 1:
        top.legend(fontsize=8)
    boundaries = [] if single else np.nonzero(np.diff(frame["run"].to_numpy()))[0]
    for position in boundaries:
        for axis in (top, bottom):
            axis.axvline(position + 0.5, color="grey", ls="--", lw=0.8)
    written = figure.save(fig, paths)
    return TrendResult([int(r) for r in runs], frame["event"].to_numpy(),
                       frame["nclusters"].to_numpy(), frame["cmos_integral"].to_numpy(),
                       written, shown)
