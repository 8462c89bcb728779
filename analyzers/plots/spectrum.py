"""The cluster light spectrum of one run or several, with the 55Fe peak fitted.

Left: the whole spectrum (log scale), so tracks and noise are seen too.  Right: the
fit range, the Gaussian + linear background fit drawn over it and its numbers printed on
the plot; the same numbers come back in `SpectrumResult.fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

from . import figure
from .peak_fit import PeakFit, default_range, fit_peak

DEFAULT_VARIABLE = "sc_integral"


@dataclass
class SpectrumResult:
    runs: list[int]
    variable: str
    entries: int
    fit: PeakFit | None
    fit_problem: str | None = None
    paths: list[Path] = field(default_factory=list)


def runs_label(runs: Sequence[int]) -> str:
    """'run 2', 'runs 2-5' (consecutive) or 'runs 2, 4, 7'."""
    ordered = sorted(set(int(r) for r in runs))
    if len(ordered) == 1:
        return f"run {ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"runs {ordered[0]}-{ordered[-1]}"
    return "runs " + ", ".join(str(r) for r in ordered)


def draw_spectrum(db: Any, runs: Sequence[int], paths: Sequence[Path], *,
                  variable: str = DEFAULT_VARIABLE, where: str | None = None,
                  bins: int = 50, fit_range: tuple[float, float] | None = None) -> SpectrumResult:
    """Histogram `variable` of the `reco` rows of `runs` (a `query.Database`) and fit it."""
    frame = db.reco(runs=[int(r) for r in runs], where=where, columns=[variable])
    values = frame[variable].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise CygnoError(f"no clusters in {runs_label(runs)}"
                         + (f" with {where}" if where else "") + ": nothing to plot")
    window = fit_range or default_range(values)
    fit, problem = None, None
    try:
        fit = fit_peak(values, bins=bins, value_range=window)
    except CygnoError as exc:
        problem = str(exc)

    fig, (whole, zoom) = figure.new_figure(1, 2, size=(11.0, 4.2))
    title = f"{runs_label(runs)}: {len(values)} clusters" + (f" ({where})" if where else "")
    fig.suptitle(title)
    positive = values[values > 0]
    if len(positive):
        log_bins = np.geomspace(positive.min(), positive.max() * 1.01, 60)
        whole.hist(positive, bins=log_bins, histtype="stepfilled", color="#8fb3d9",
                   edgecolor="#2b5d8a")
        whole.set_xscale("log")
    whole.set_yscale("log")
    whole.axvspan(*window, color="orange", alpha=0.15, label="fit range")
    whole.set_xlabel(f"{variable} (ADU)")
    whole.set_ylabel("clusters")
    whole.legend(loc="upper right")

    counts, edges, _ = zoom.hist(values, bins=bins, range=window, histtype="step",
                                 color="#2b5d8a", label="clusters")
    centres = 0.5 * (edges[1:] + edges[:-1])
    zoom.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="none", ecolor="#2b5d8a",
                  alpha=0.6)
    if fit is not None:
        x = np.linspace(*fit.window, 200)
        zoom.plot(x, fit(x), color="crimson", label="Gaussian + linear background")
        zoom.text(0.97, 0.62, fit.label("ADU"), transform=zoom.transAxes, ha="right",
                  va="top", fontsize=9,
                  bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    else:
        zoom.text(0.5, 0.5, f"no fit: {problem}", transform=zoom.transAxes, ha="center",
                  wrap=True)
    zoom.set_xlabel(f"{variable} (ADU)")
    zoom.set_ylabel(f"clusters / {edges[1] - edges[0]:.0f} ADU")
    zoom.set_title("55Fe peak")
    zoom.legend(loc="upper right", fontsize=8)
    written = figure.save(fig, paths)
    return SpectrumResult([int(r) for r in runs], variable, len(values), fit, problem, written)
