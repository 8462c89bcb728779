"""The NumPy array version of the CPU path, kept as the reference the compiled path must equal.

`NumpyFrameSteps` is steps 1-4 as whole-array NumPy passes (the CPU path before the Numba
kernels of cpu_kernels); step 5 is then noise_cleaning.clean_rebinned, the array fixed point
of the experiment's loop.  `reference_backend` runs the clustering (steps 6-7) as the plain
array code instead of cpu_clustering's compiled loops.  `reference_reconstructor` is a
Reconstructor running all of them: tests and bench/reco.py compare the default CPU path
with it bit for bit.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .backend import Backend, numpy_backend
from .frame_cpu import FrameOutput, frame_stats
from .params import RecoParams
from .pedestals import PedestalMaps
from .pipeline import Reconstructor
from .rebin import band_rows, median_rebin_rows
from .zero_suppression import acceptance_window, is_spark, raw_sum, zero_suppress_rows


class NumpyFrameSteps:
    """NumPy implementation of steps 1-4 with preallocated buffers (about 4 band-sized)."""

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


def reference_reconstructor(
    params: RecoParams, pedestal: PedestalMaps, vignette: np.ndarray | None = None
) -> Reconstructor:
    """A NumPy-backend Reconstructor whose steps 1-5 are the array reference above."""
    reco = Reconstructor(params.replace(backend="numpy"), pedestal, vignette)
    reco._frames = NumpyFrameSteps(reco.params, pedestal.mean, reco._threshold)
    reco._backend = reference_backend()
    return reco


def reference_backend() -> Backend:
    """The NumPy backend with the clustering as plain array code (no compiled loops)."""
    return dataclasses.replace(numpy_backend(), compiled=False)
