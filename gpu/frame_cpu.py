"""Steps 1-4 on the CPU: a handful of in-place float32 passes over the band of kept rows.

Rows outside the acceptance window are zero after zero suppression, and so are the median
and the rebinned image there, so only the block-aligned band of rows that can be non-zero
is processed.  Buffers are allocated once per Reconstructor (about 4 frames of float32).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .params import RecoParams
from .rebin import band_rows, median_rebin_rows
from .zero_suppression import acceptance_window, is_spark, raw_sum, zero_suppress_rows


@dataclass
class FrameOutput:
    """Steps 1-4 of one frame: the rebinned image and whole-frame numbers."""

    rebinned: object  # (rows/rebin, cols/rebin) float32, on the backend's device
    frame: object  # the raw frame on the device (for the cluster hits)
    stats: dict[str, float]
    skipped: str | None
    timings: dict[str, float]
    cleaned: object | None = None  # step 5 already done (GPU batches), else None


def frame_stats(total_raw: int, zs_sum: float, zs_sq_sum: float, n_pixels: int) -> dict:
    mean = zs_sum / n_pixels
    return {
        "cmos_integral": zs_sum,
        "cmos_mean": mean,
        "cmos_rms": float(np.sqrt(max(zs_sq_sum / n_pixels - mean * mean, 0.0))),
        "raw_mean": total_raw / n_pixels,
    }


class CpuFrameSteps:
    """NumPy implementation of steps 1-4 with preallocated buffers."""

    def __init__(self, params: RecoParams, pedestal: np.ndarray, threshold: np.ndarray) -> None:
        self.params = params
        self.pedestal = pedestal
        self.threshold = threshold
        self.shape = pedestal.shape
        rows, cols = self.shape
        r0, r1, _, _ = acceptance_window(params, self.shape)
        self.band = band_rows((r0, r1), params.rebin, rows)
        n = self.band[1] - self.band[0]
        self.extended = np.zeros((n + 1, cols), dtype=np.float32)
        self.lo = np.empty((n, cols), dtype=np.float32)
        self.hi = np.empty((n, cols), dtype=np.float32)
        self.scratch = np.empty((n, cols), dtype=np.float32)
        self.out_shape = (rows // params.rebin, cols // params.rebin)

    def run(self, raw: np.ndarray) -> FrameOutput:
        p = self.params
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        total = raw_sum(raw)
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
            zs = self.extended[1:]
            zero_suppress_rows(
                raw, self.pedestal, self.threshold, p.cimax, (a, b), zs, self.scratch
            )
            # pairwise float32 sums: relative error ~1e-6, half the cost of float64
            zs_sum = float(zs.sum())
            zs_sq = float(np.square(zs, out=self.scratch).sum())
        timings["zero_suppression"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if b > a:
            if a == 0:
                self.extended[0] = self.extended[1]  # mirrored top edge
            else:
                self.extended[0] = 0.0  # the row above the band is outside the window
            r = p.rebin
            median_rebin_rows(self.extended, r, self.lo, self.hi, rebinned[a // r : b // r])
        timings["median_rebin"] = time.perf_counter() - t0
        stats = frame_stats(total, zs_sum, zs_sq, n_pixels)
        return FrameOutput(rebinned, raw, stats, None, timings)
