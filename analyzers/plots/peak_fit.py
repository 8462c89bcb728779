"""A Gaussian peak on a linear background, fitted to a histogram (the 55Fe line).

The peak is searched as the fullest bin of the histogram in the fit range, then fitted
with `scipy.optimize.curve_fit` within +-2.5 sigma of it, bins weighted by their Poisson
errors.  Position and resolution come back with their errors so a test (or a shift
crew) can say whether a shift is real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cygno_mw.errors import CygnoError

FIT_HALF_WIDTH_SIGMAS = 2.5


@dataclass(frozen=True)
class PeakFit:
    """The fitted peak: position `mean`, width `sigma`, their errors, and the fit quality."""

    mean: float
    mean_error: float
    sigma: float
    sigma_error: float
    amplitude: float
    background: tuple[float, float]  # level at the mean, slope
    chi2_ndf: float
    counts: int  # entries in the fit window
    window: tuple[float, float]  # the x range fitted (peak +- 2.5 sigma)

    @property
    def resolution(self) -> float:
        """sigma / mean (the energy resolution at this peak)."""
        return self.sigma / self.mean

    @property
    def resolution_error(self) -> float:
        return self.resolution * float(np.hypot(self.sigma_error / self.sigma,
                                                self.mean_error / self.mean))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _model(np.asarray(x, dtype=float), self.amplitude, self.mean, self.sigma,
                      *self.background)

    def label(self, unit: str = "") -> str:
        suffix = f" {unit}" if unit else ""
        return (f"peak {self.mean:.0f} ± {self.mean_error:.0f}{suffix}\n"
                f"σ {self.sigma:.0f} ± {self.sigma_error:.0f}{suffix}\n"
                f"resolution σ/μ {100 * self.resolution:.1f} ± "
                f"{100 * self.resolution_error:.1f} %")


def _model(x: np.ndarray, amplitude: float, mean: float, sigma: float, level: float,
           slope: float) -> np.ndarray:
    return (amplitude * np.exp(-0.5 * ((x - mean) / sigma) ** 2)
            + level + slope * (x - mean))


def fit_peak(values: np.ndarray, bins: int = 60,
             value_range: tuple[float, float] | None = None) -> PeakFit:
    """Fit the most prominent peak of `values` (within `value_range` if given)."""
    from scipy.optimize import curve_fit

    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if value_range is None:
        value_range = default_range(data)
    counts, edges = np.histogram(data, bins=bins, range=value_range)
    if counts.sum() < 10:
        raise CygnoError(f"too few entries ({int(counts.sum())}) in {value_range} to fit a peak")
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    smoothed = np.convolve(counts, np.ones(3) / 3, mode="same")
    top = int(np.argmax(smoothed))
    mean0 = centres[top]
    half = smoothed[top] / 2
    above = np.nonzero(smoothed >= half)[0]
    sigma0 = max((above[-1] - above[0] + 1) * width / 2.355, width)
    window = np.abs(centres - mean0) <= FIT_HALF_WIDTH_SIGMAS * sigma0 + width
    for _ in range(2):  # refit once around the fitted position
        x, y = centres[window], counts[window]
        if len(x) < 6:
            raise CygnoError("the peak is too narrow for the binning: give more bins")
        start = (max(float(y.max()), 1.0), mean0, sigma0, float(min(y.min(), 1)), 0.0)
        span = float(x[-1] - x[0]) + width
        bounds = ([0.0, float(x[0]), width / 4, -np.inf, -np.inf],
                  [np.inf, float(x[-1]), span, np.inf, np.inf])
        try:
            popt, pcov = curve_fit(_model, x, y, p0=start, sigma=np.sqrt(np.maximum(y, 1)),
                                   absolute_sigma=True, bounds=bounds, maxfev=20000)
        except (RuntimeError, ValueError) as exc:
            raise CygnoError(f"the peak fit did not converge: {exc}") from None
        mean0, sigma0 = float(popt[1]), abs(float(popt[2]))
        window = np.abs(centres - mean0) <= FIT_HALF_WIDTH_SIGMAS * sigma0 + width
    errors = np.sqrt(np.diag(pcov))
    residual = (y - _model(x, *popt)) / np.sqrt(np.maximum(y, 1))
    ndf = max(len(x) - len(popt), 1)
    return PeakFit(mean=float(popt[1]), mean_error=float(errors[1]),
                   sigma=abs(float(popt[2])), sigma_error=float(errors[2]),
                   amplitude=float(popt[0]), background=(float(popt[3]), float(popt[4])),
                   chi2_ndf=float(np.sum(residual ** 2) / ndf), counts=int(y.sum()),
                   window=(float(x[0] - width / 2), float(x[-1] + width / 2)))


def default_range(values: np.ndarray) -> tuple[float, float]:
    """0 .. 2.5 x the median: where the bulk of small clusters (the 55Fe spots) lies."""
    if len(values) == 0:
        raise CygnoError("no clusters to fit")
    median = float(np.median(values))
    return 0.0, 2.5 * median if median > 0 else 1.0
