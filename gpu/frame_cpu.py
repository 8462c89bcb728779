"""Steps 1-5 on the CPU: compiled passes over the band of kept rows, then the cleaning loop.

Rows outside the acceptance window are zero after zero suppression, and so are the median
and the rebinned image there, so only the block-aligned band of rows that can be non-zero
is processed, in one pass that zero-suppresses, sums, median-filters and rebins it with
no frame-sized buffer (cpu_kernels.zero_suppress_median_rebin).
The kernels (cpu_kernels) repeat the NumPy reference's float32 arithmetic
(reference_cpu.NumpyFrameSteps), so the results are bit-identical to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .noise_cleaning import zero_border
from .params import RecoParams
from .rebin import band_rows
from .zero_suppression import acceptance_window, is_spark


@dataclass
class FrameOutput:
    """Steps 1-4 of one frame: the rebinned image and whole-frame numbers."""

    rebinned: object  # (rows/rebin, cols/rebin) float32, on the backend's device
    frame: object  # the raw frame on the device (for the cluster hits)
    stats: dict[str, float]
    skipped: str | None
    timings: dict[str, float]
    cleaned: object | None = None  # step 5 already done (CPU, GPU batches), else None


def frame_stats(total_raw: int, zs_sum: float, zs_sq_sum: float, n_pixels: int) -> dict:
    mean = zs_sum / n_pixels
    return {
        "cmos_integral": zs_sum,
        "cmos_mean": mean,
        "cmos_rms": float(np.sqrt(max(zs_sq_sum / n_pixels - mean * mean, 0.0))),
        "raw_mean": total_raw / n_pixels,
    }


class CpuFrameSteps:
    """Compiled steps 1-5 of one frame."""

    def __init__(self, params: RecoParams, pedestal: np.ndarray, threshold: np.ndarray) -> None:
        from . import cpu_kernels  # Numba: loaded only by the CPU path (not by frame_gpu)

        self._kernels = cpu_kernels
        self.params = params
        self.pedestal = np.ascontiguousarray(pedestal, dtype=np.float32)
        self.threshold = np.ascontiguousarray(threshold, dtype=np.float32)
        self.shape = pedestal.shape
        rows, cols = self.shape
        r0, r1, _, _ = acceptance_window(params, self.shape)
        self.band = band_rows((r0, r1), params.rebin, rows)
        self.out_shape = (rows // params.rebin, cols // params.rebin)

    def run(self, raw: np.ndarray) -> FrameOutput:
        p = self.params
        kernels = self._kernels
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        total = int(kernels.raw_sum(raw))
        timings["spark"] = time.perf_counter() - t0
        rebinned = np.zeros(self.out_shape, dtype=np.float32)
        n_pixels = raw.size
        if is_spark(total, p):
            stats = frame_stats(total, 0.0, 0.0, n_pixels)
            return FrameOutput(rebinned, raw, stats, "spark", timings)
        a, b = self.band
        t0 = time.perf_counter()
        zs_sum = zs_sq = 0.0
        if b > a:
            r = p.rebin
            zs_sum, zs_sq = kernels.zero_suppress_median_rebin(
                raw[a:b], self.pedestal[a:b], self.threshold[a:b], p.cimax, a == 0, r,
                rebinned[a // r : b // r],
            )
        # steps 2-4 are one pass now: the time goes to zero suppression, median_rebin is 0
        timings["zero_suppression"] = time.perf_counter() - t0
        timings["median_rebin"] = 0.0
        stats = frame_stats(total, zs_sum, zs_sq, n_pixels)
        t0 = time.perf_counter()
        cleaned = clean_rebinned_cpu(rebinned, p)
        timings["noise_cleaning"] = time.perf_counter() - t0
        return FrameOutput(rebinned, raw, stats, None, timings, cleaned)


def clean_rebinned_cpu(image: np.ndarray, params: RecoParams) -> np.ndarray:
    """Step 5 by the experiment's raster loop, compiled: equals noise_cleaning.clean_rebinned."""
    from .cpu_kernels import clean_raster

    cleaned = zero_border(image, params.clean_border, np)
    if cleaned.shape[0] < 4 or cleaned.shape[1] < 4:
        return np.zeros_like(cleaned)
    clean_raster(
        cleaned, params.clean_outlier, params.min_neighbors_average, params.clean_min_active
    )
    return cleaned
