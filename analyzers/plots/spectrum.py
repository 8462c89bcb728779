"""The cluster light spectrum of one run or several, with the 55Fe peak fitted.

Left: the whole spectrum (log scale), so tracks and noise are seen too, with the window the
fit really used shaded.  Right: the histogram the fit used (one binning), the Gaussian +
linear background fit over it, its numbers, chi2/ndf and the clusters in the window.  The
same numbers come back from `fit_spectrum` (the CLI and the notebook use it too).  The
title names the pass and its parameters (from the `passes` row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

from . import figure
from .pass_label import PassShown, pass_shown
from .peak_fit import PeakFit, default_range, fit_peak

DEFAULT_VARIABLE = "sc_integral"
DEFAULT_BINS = 50


@dataclass
class SpectrumResult:
    runs: list[int]
    variable: str
    entries: int
    fit: PeakFit | None
    fit_problem: str | None = None
    paths: list[Path] = field(default_factory=list)
    pass_shown: PassShown | None = None
    bins: int = DEFAULT_BINS
    window: tuple[float, float] = (0.0, 1.0)  # the histogram's range (the fit is inside)
    values: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def summary(self) -> str:
        """The numbers the CLI prints and the plot shows (the notebook prints these too)."""
        head = f"{self.entries} clusters ({self.pass_shown.title() if self.pass_shown else '?'})"
        if self.fit is None:
            return f"{head}; no peak fit: {self.fit_problem}"
        fit = self.fit
        return (f"{head}; peak {fit.mean:.1f} ± {fit.mean_error:.1f} ADU, sigma "
                f"{fit.sigma:.1f} ± {fit.sigma_error:.1f} ADU, resolution "
                f"{100 * fit.resolution:.1f} ± {100 * fit.resolution_error:.1f} %, "
                f"chi2/ndf {fit.chi2_ndf:.2f}, {fit.counts} clusters in the fit window "
                f"{fit.window[0]:.0f}-{fit.window[1]:.0f} ADU")


def runs_label(runs: Sequence[int]) -> str:
    """'run 2', 'runs 2-5' (consecutive) or 'runs 2, 4, 7'."""
    ordered = sorted(set(int(r) for r in runs))
    if len(ordered) == 1:
        return f"run {ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"runs {ordered[0]}-{ordered[-1]}"
    return "runs " + ", ".join(str(r) for r in ordered)


def fit_spectrum(db: Any, runs: Sequence[int], *, variable: str = DEFAULT_VARIABLE,
                 where: str | None = None, bins: int = DEFAULT_BINS,
                 fit_range: tuple[float, float] | None = None,
                 pass_: str | None = None) -> SpectrumResult:
    """The spectrum's one fit: `variable` of the `reco` rows of `runs` in one pass (`pass_`,
    else the runs' default pass), histogrammed in `bins` bins over `fit_range` (default 0 ..
    2.5 x the median) and fitted there (peak +- 2.5 sigma). The CLI, `draw_spectrum` and the
    notebook all call this, so they give the same numbers."""
    numbers = [int(r) for r in runs]
    shown = pass_shown(db, numbers, pass_)
    frame = db.reco(numbers, where=where, columns=[variable], pass_=shown.name)
    values = frame[variable].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise CygnoError(f"no clusters in {runs_label(runs)} (pass {shown.name})"
                         + (f" with {where}" if where else "") + ": nothing to plot")
    window = fit_range or default_range(values)
    fit, problem = None, None
    try:
        fit = fit_peak(values, bins=bins, value_range=window)
    except CygnoError as exc:
        problem = str(exc)
    return SpectrumResult(numbers, variable, len(values), fit, problem, [], shown, bins,
                          window, values)


def draw_spectrum(db: Any, runs: Sequence[int], paths: Sequence[Path], *,
                  variable: str = DEFAULT_VARIABLE, where: str | None = None,
                  bins: int = DEFAULT_BINS, fit_range: tuple[float, float] | None = None,
                  pass_: str | None = None) -> SpectrumResult:
    """Draw `fit_spectrum`'s result: the whole spectrum (log) with the fit window shaded,
    and the histogram the fit used, with the fit, its numbers, chi2/ndf and counts."""
    result = fit_spectrum(db, runs, variable=variable, where=where, bins=bins,
                          fit_range=fit_range, pass_=pass_)
    values, fit, window = result.values, result.fit, result.window
    assert result.pass_shown is not None
    fig, (whole, zoom) = figure.new_figure(1, 2, size=(11.0, 4.4))
    fig.suptitle(f"{runs_label(runs)}: {len(values)} clusters"
                 + (f" ({where})" if where else "") + f"\n{result.pass_shown.title()}",
                 fontsize=10)
    positive = values[values > 0]
    if len(positive):
        log_bins = np.geomspace(positive.min(), positive.max() * 1.01, 60)
        whole.hist(positive, bins=log_bins, histtype="stepfilled", color="#8fb3d9",
                   edgecolor="#2b5d8a")
        whole.set_xscale("log")
    whole.set_yscale("log")
    whole.axvspan(*window, color="grey", alpha=0.10, label="histogram range")
    if fit is not None:
        whole.axvspan(*fit.window, color="orange", alpha=0.3,
                      label="fit window (peak ± 2.5 σ)")
    whole.set_xlabel(f"{variable} (ADU)")
    whole.set_ylabel("clusters")
    whole.legend(loc="upper right", fontsize=8)

    counts, edges, _ = zoom.hist(values, bins=bins, range=window, histtype="step",
                                 color="#2b5d8a", label="clusters")
    centres = 0.5 * (edges[1:] + edges[:-1])
    zoom.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="none", ecolor="#2b5d8a",
                  alpha=0.6)
    if fit is not None:
        zoom.axvspan(*fit.window, color="orange", alpha=0.15, label="fit window")
        x = np.linspace(*fit.window, 200)
        zoom.plot(x, fit(x), color="crimson", label="Gaussian + linear background")
        text = (f"{fit.label('ADU')}\nχ²/ndf {fit.chi2_ndf:.2f}\n"
                f"{fit.counts} of {len(values)} clusters in the window")
        zoom.text(0.97, 0.62, text, transform=zoom.transAxes, ha="right", va="top",
                  fontsize=8.5, bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    else:
        zoom.text(0.5, 0.5, f"no fit: {result.fit_problem}", transform=zoom.transAxes,
                  ha="center", wrap=True)
    zoom.set_xlabel(f"{variable} (ADU)")
    zoom.set_ylabel(f"clusters / {edges[1] - edges[0]:.0f} ADU")
    zoom.set_title("55Fe peak")
    zoom.legend(loc="upper right", fontsize=8)
    result.paths = figure.save(fig, paths, description=result.summary())
    return result
