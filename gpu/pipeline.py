"""The camera reconstruction of one image or a batch: steps 1-7 on the CPU or a GPU.

    rec = Reconstructor(RecoParams(), PedestalMaps.load("ped.npz"), vignette=acceptance_map)
    result = rec.process(image)          # 2304x2304 uint16, or the flat MIDAS bank
    result.clusters["sc_integral"]       # one float64 array per variable, n_clusters long

Coordinate conventions: x is the image column and y the image row, both in full-resolution
pixels with pixel centres at integer indices; the rebinned grid (`hits`) is indexed by
macro-pixel (row, col), covering full-resolution rows row*rebin .. row*rebin + rebin - 1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cygno_mw.errors import ConfigError, UsageError

from .backend import Backend, get_backend
from .cluster_variables import CLUSTER_VARIABLES, cluster_variables, empty_variables
from .dbscan_seeding import dbscan_seed
from .directional import directional_clusters
from .frame_cpu import CpuFrameSteps, FrameOutput
from .noise_cleaning import clean_rebinned
from .params import RecoParams
from .pedestals import PedestalMaps
from .zero_suppression import threshold_map

__all__ = ["CLUSTER_VARIABLES", "HostMaps", "ImageResult", "Reconstructor", "host_maps"]

# Clustering points on more than this fraction of the rebinned grid is a flash of light
# that the spark test missed, not particle tracks: the frame is skipped as 'flash'.
MAX_POINT_FRACTION = 1 / 3


@dataclass
class ImageResult:
    """Reconstruction of one image.

    clusters: sc_* variable -> float64 array (all n_clusters long; see cluster_variables).
    image: cmos_integral/cmos_mean/cmos_rms (zero-suppressed frame), nclusters, raw_mean,
        n_points (macro-pixels given to the clustering), n_core, n_seed_clusters, n_tracks.
    timings: seconds per step.  skipped: why the frame was not analysed: 'spark' (raw sum
        above spark_sum_threshold) or 'flash' (points on more than MAX_POINT_FRACTION of the grid).
    hits: the clustered macro-pixels for drawing: 'row', 'col' (rebinned grid), 'cluster'
        (index into the cluster arrays) and 'value' (cleaned macro-pixel value).
    """

    clusters: dict[str, np.ndarray]
    image: dict[str, float]
    timings: dict[str, float]
    skipped: str | None
    backend: str
    hits: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.image.get("nclusters", 0))


@dataclass(frozen=True)
class HostMaps:
    """The per-pixel arrays a Reconstructor works from, checked, as C-ordered float32 host
    arrays: pedestal mean, zero-suppression threshold (+inf outside the acceptance window)
    and acceptance map (None: no correction).  Worker processes receive them through shared
    memory, so N workers hold one copy."""

    pedestal: np.ndarray
    threshold: np.ndarray
    vignette: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.pedestal.shape  # type: ignore[return-value]


def host_maps(
    params: RecoParams, pedestal: PedestalMaps, vignette: np.ndarray | None = None
) -> HostMaps:
    """The arrays a Reconstructor needs from the pedestal maps and the acceptance map."""
    if not isinstance(params, RecoParams):
        raise UsageError("params must be a RecoParams")
    if not isinstance(pedestal, PedestalMaps):
        raise UsageError("pedestal must be a PedestalMaps (see cygno_mw.gpu.pedestals)")
    shape = pedestal.shape
    if shape[0] % params.rebin or shape[1] % params.rebin:
        raise ConfigError(
            f"reco parameter 'rebin' = {params.rebin}: must divide the image shape {shape}"
        )
    return HostMaps(np.ascontiguousarray(pedestal.mean, dtype=np.float32),
                    threshold_map(pedestal.sigma, params), _check_vignette(vignette, shape))


class Reconstructor:
    """Holds the maps on the chosen device and reconstructs images with them."""

    def __init__(
        self, params: RecoParams, pedestal: PedestalMaps, vignette: np.ndarray | None = None
    ) -> None:
        self._setup(params, host_maps(params, pedestal, vignette))

    @classmethod
    def from_host_maps(cls, params: RecoParams, maps: HostMaps) -> Reconstructor:
        """A Reconstructor on maps already prepared by `host_maps` (used, not copied, on
        the CPU: they may live in shared memory)."""
        if not isinstance(params, RecoParams):
            raise UsageError("params must be a RecoParams")
        reconstructor = cls.__new__(cls)
        reconstructor._setup(params, maps)
        return reconstructor

    def _setup(self, params: RecoParams, maps: HostMaps) -> None:
        self.params = params
        self.shape: tuple[int, int] = maps.shape
        self._backend: Backend = get_backend(params.backend)
        self._vignette_host = maps.vignette
        xp = self._backend.xp
        if self._backend.is_gpu:
            from .frame_gpu import GpuFrameSteps

            self._frames: Any = GpuFrameSteps(params, maps.pedestal, maps.threshold,
                                              self._backend)
            self._pedestal = self._frames.pedestal
            self._threshold = self._frames.threshold
        else:
            self._frames = CpuFrameSteps(params, maps.pedestal, maps.threshold)
            self._pedestal = maps.pedestal
            self._threshold = maps.threshold
        self._vignette = (
            None if self._vignette_host is None else xp.asarray(self._vignette_host)
        )
        # an asynchronous upload on the current stream, read later on the GPU path's
        # non-blocking compute stream, which does not wait for it
        self._backend.synchronize()

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device_name(self) -> str:
        return self._backend.device_name

    def host_buffer(self, n: int = 1) -> np.ndarray:
        """(n, rows, cols) uint16 array to fill with images; pinned memory on the GPU path."""
        if self._backend.is_gpu:
            return self._frames.host_buffer(n)
        return np.empty((n, *self.shape), dtype=np.uint16)

    def process(self, image: np.ndarray) -> ImageResult:
        """Reconstruct one image (rows, cols) uint16, or its flat bank of the same size."""
        return self.process_batch([image])[0]

    def process_batch(self, images: Sequence[np.ndarray]) -> list[ImageResult]:
        """Reconstruct several images; on the GPU they go through in batches of batch_size."""
        frames = [self._as_frame(image) for image in images]
        results: list[ImageResult] = []
        if not self._backend.is_gpu:
            for frame in frames:
                t0 = time.perf_counter()
                result = self._finish(self._frames.run(frame))
                result.timings["total"] = time.perf_counter() - t0
                results.append(result)
            return results
        size = self.params.batch_size
        for start in range(0, len(frames), size):
            t0 = time.perf_counter()
            chunk = frames[start : start + size]
            outputs = self._frames.run_batch(chunk)
            with self._frames.stream():
                batch = [self._finish(out) for out in outputs]
            elapsed = (time.perf_counter() - t0) / len(chunk)
            for result in batch:
                result.timings["total"] = elapsed
            results.extend(batch)
        return results

    def _as_frame(self, image: Any) -> np.ndarray:
        """Validate shape and dtype against the pedestal map; accept flat banks."""
        if not isinstance(image, np.ndarray):
            if hasattr(image, "__cuda_array_interface__"):
                raise UsageError("pass images as NumPy arrays (host memory)")
            image = np.asarray(image)
        if image.dtype != np.uint16:
            if image.dtype.kind not in "ui":
                raise UsageError(
                    f"image dtype {image.dtype}: expected uint16 camera counts"
                )
            if image.size and (int(image.min()) < 0 or int(image.max()) > 65535):
                raise UsageError(f"image dtype {image.dtype}: values outside 0..65535")
            image = image.astype(np.uint16)
        if image.shape != self.shape:
            if image.ndim == 1 and image.size == self.shape[0] * self.shape[1]:
                image = image.reshape(self.shape)
            else:
                raise UsageError(
                    f"image shape {image.shape} does not match the pedestal map {self.shape}"
                )
        return np.ascontiguousarray(image)

    def _finish(self, out: FrameOutput) -> ImageResult:
        """Steps 5-7 of one frame whose steps 1-4 are done."""
        b, p = self._backend, self.params
        xp = b.xp
        timings = dict(out.timings)
        image = dict(out.stats)
        image.update(nclusters=0.0, n_points=0.0, n_core=0.0, n_seed_clusters=0.0, n_tracks=0.0)
        if out.skipped:
            return ImageResult(empty_variables(), image, timings, out.skipped, b.name)

        def lap(name: str, start: float) -> float:
            b.synchronize()
            now = time.perf_counter()
            timings[name] = now - start
            return now

        t = time.perf_counter()
        if out.cleaned is None:
            clean = clean_rebinned(out.rebinned, p, xp)
            t = lap("noise_cleaning", t)
        else:
            clean = out.cleaned
        # CuPy's nonzero lists indices in row-major order, as NumPy's: the same points in
        # the same order on both, so point indices (and labels numbered by first point) match.
        rows, cols = xp.nonzero(clean > xp.float32(p.point_threshold))
        if rows.shape[0] > MAX_POINT_FRACTION * clean.size:
            image.update(n_points=float(rows.shape[0]))
            return ImageResult(empty_variables(), image, timings, "flash", b.name)
        rows, cols = rows.astype(xp.int64), cols.astype(xp.int64)
        weights = clean[rows, cols]
        seed = dbscan_seed(rows, cols, weights, p.eps, p.min_samples, clean.shape, b)
        t = lap("seeding", t)
        final = directional_clusters(rows, cols, weights, seed, p, clean.shape, b)
        t = lap("directional", t)
        clusters = cluster_variables(
            rows, cols, final.labels, final.n_clusters, out.frame, self._pedestal,
            self._threshold, self._vignette, p.cimax, p.rebin, b,
        )
        lap("variables", t)
        clustered = final.labels >= 0  # boolean-mask indexing keeps row-major order too
        hits = {
            "row": b.to_host(rows[clustered]).astype(np.int32),
            "col": b.to_host(cols[clustered]).astype(np.int32),
            "cluster": b.to_host(final.labels[clustered]).astype(np.int32),
            "value": b.to_host(weights[clustered]).astype(np.float32),
        }
        image.update(
            nclusters=float(final.n_clusters),
            n_points=float(rows.shape[0]),
            n_core=float(b.scalar(seed.is_core.sum())) if rows.shape[0] else 0.0,
            n_seed_clusters=float(seed.n_clusters),
            n_tracks=float(final.directional.sum()),
        )
        return ImageResult(clusters, image, timings, None, b.name, hits)


def _check_vignette(vignette: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The acceptance map as float32, or a ConfigError saying what is wrong with it."""
    if vignette is None:
        return None
    vig = np.asarray(vignette, dtype=np.float32)
    if vig.shape != shape:
        raise ConfigError(f"vignetting map shape {vig.shape} does not match the image {shape}")
    # +inf is allowed: the experiment's uncovered edge, where light counts as 0
    if np.isnan(vig).any():
        raise ConfigError("vignetting map contains NaN values")
    if not (vig > 0).all():
        raise ConfigError("vignetting map must be > 0 everywhere (it divides the light)")
    return vig
