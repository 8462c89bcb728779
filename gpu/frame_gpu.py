"""Steps 1-4 on a CUDA GPU with CuPy: batches, pinned host memory, copies overlapped.

Each image of a batch is staged in page-locked (pinned) host memory and sent with an
asynchronous host-to-device copy on a copy stream; the compute stream waits only for that
image's copy event before zero-suppressing it, so image i+1 travels while image i is being
processed.  The median+rebin kernel then runs once over the whole batch.  Only a few
numbers per image come back to the host; the rebinned images stay on the device for the
clustering.  Imported only when the CuPy backend is in use.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .backend import Backend
from .cuda_kernels import (
    median_rebin,
    noise_clean,
    sum_of_squares_kernel,
    zero_suppress_kernel,
)
from .frame_cpu import FrameOutput, frame_stats
from .noise_cleaning import zero_border
from .params import RecoParams


class GpuFrameSteps:
    """CuPy implementation of steps 1-4 for batches of frames."""

    def __init__(
        self, params: RecoParams, pedestal: np.ndarray, threshold: np.ndarray, backend: Backend
    ) -> None:
        import cupy

        self.cp = cupy
        self.params = params
        self.backend = backend
        self.shape = pedestal.shape
        self.pedestal = cupy.asarray(pedestal, dtype=cupy.float32)
        self.threshold = cupy.asarray(threshold, dtype=cupy.float32)
        self.out_shape = (self.shape[0] // params.rebin, self.shape[1] // params.rebin)
        self.copy_stream = cupy.cuda.Stream(non_blocking=True)
        self.compute_stream = cupy.cuda.Stream(non_blocking=True)
        self.capacity = 0
        self._ensure_capacity(params.batch_size)
        # asarray uploads asynchronously on the current (legacy default) stream, which the
        # non-blocking compute stream does not wait for: finish the maps' copies here
        cupy.cuda.get_current_stream().synchronize()

    def _ensure_capacity(self, n: int) -> None:
        if n <= self.capacity:
            return
        import cupyx

        cp = self.cp
        rows, cols = self.shape
        self.pinned = cupyx.empty_pinned((n, rows, cols), dtype=np.uint16)
        self.raw = cp.empty((n, rows, cols), dtype=cp.uint16)
        self.zs = cp.empty((n, rows, cols), dtype=cp.float32)
        self.rebinned = cp.empty((n, *self.out_shape), dtype=cp.float32)
        self.cleaned = cp.empty((n, *self.out_shape), dtype=cp.float32)
        self.capacity = n

    def host_buffer(self, n: int) -> np.ndarray:
        """Pinned host array (n, rows, cols) uint16 to decode images into without a copy."""
        self._ensure_capacity(n)
        return self.pinned[:n]

    def _stage(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Pinned source of each frame: its own slot when decoded into `host_buffer`,
        else a copy into a slot that no frame of this batch occupies."""
        slot_bytes = self.pinned[0].nbytes
        start = _address(self.pinned)
        own: list[int | None] = []
        for frame in frames:
            offset = _address(frame) - start
            inside = 0 <= offset < self.capacity * slot_bytes and offset % slot_bytes == 0
            own.append(offset // slot_bytes if inside else None)
        free = iter(sorted(set(range(self.capacity)) - {k for k in own if k is not None}))
        sources = []
        for frame, slot in zip(frames, own, strict=True):
            if slot is None:
                slot = next(free)
                np.copyto(self.pinned[slot], frame)
            sources.append(self.pinned[slot])
        return sources

    def run_batch(self, frames: list[np.ndarray]) -> list[FrameOutput]:
        cp = self.cp
        n = len(frames)
        self._ensure_capacity(n)
        p = self.params
        zs_kernel = zero_suppress_kernel()
        cimax = np.int32(min(p.cimax, np.iinfo(np.int32).max))
        t0 = time.perf_counter()
        self.copy_stream.synchronize()  # the pinned slots are free again
        sources = self._stage(frames)
        for i, source in enumerate(sources):
            self.raw[i].set(source, stream=self.copy_stream)
            copied = self.copy_stream.record()
            self.compute_stream.wait_event(copied)
            with self.compute_stream:
                zs_kernel(self.raw[i], self.pedestal, self.threshold, cimax, self.zs[i])
        with self.compute_stream:
            # Whole-frame numbers.  The uint64 raw sum (spark test) is exact in any order, so
            # equal to the CPU's.  The zero-suppressed sums are float64 tree reductions where
            # the CPU adds float32 pairwise: cmos_integral/mean/rms agree within float32
            # rounding (monitor numbers; no cluster depends on them).
            raw_sums = self.raw[:n].reshape(n, -1).sum(axis=1, dtype=cp.uint64)
            zs_flat = self.zs[:n].reshape(n, -1)
            zs_sums = zs_flat.sum(axis=1, dtype=cp.float64)
            zs_squares = sum_of_squares_kernel()(zs_flat, axis=1)
        self.compute_stream.synchronize()
        t_zs = time.perf_counter() - t0
        t0 = time.perf_counter()
        with self.compute_stream:
            median_rebin(self.zs[:n], self.rebinned[:n], p.rebin)
        self.compute_stream.synchronize()
        t_rebin = time.perf_counter() - t0
        t0 = time.perf_counter()
        with self.compute_stream:
            bordered = zero_border(self.rebinned[:n], p.clean_border, cp)
            self.cleaned[:n] = bordered
            noise_clean(bordered, self.cleaned[:n], p.clean_outlier, p.min_neighbors_average,
                        p.clean_min_active)
        self.compute_stream.synchronize()
        t_clean = time.perf_counter() - t0
        totals = cp.asnumpy(raw_sums)
        sums = cp.asnumpy(zs_sums)
        squares = cp.asnumpy(zs_squares)
        n_pixels = self.shape[0] * self.shape[1]
        outputs = []
        for i in range(n):
            total = int(totals[i])
            spark = p.spark_sum_threshold > 0 and total > p.spark_sum_threshold
            timings = {
                "transfer_zero_suppression": t_zs / n,
                "median_rebin": t_rebin / n,
                "noise_cleaning": t_clean / n,
            }
            if spark:
                stats = frame_stats(total, 0.0, 0.0, n_pixels)
                with self.compute_stream:  # the stream the clustering reads them on
                    self.rebinned[i].fill(0)
                    self.cleaned[i].fill(0)
            else:
                stats = frame_stats(total, float(sums[i]), float(squares[i]), n_pixels)
            outputs.append(
                FrameOutput(self.rebinned[i], self.raw[i], stats, "spark" if spark else None,
                            timings, cleaned=self.cleaned[i])
            )
        return outputs

    def stream(self) -> Any:
        """The compute stream, for the clustering that follows."""
        return self.compute_stream


def _address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])
