"""Pedestal maps of a pedestal run, one accumulator per camera, fed image by image.

The first image of a camera fixes its shape; later images of another size are skipped
and counted (as a physics image that does not match its map would be).
"""

from __future__ import annotations

import logging

import numpy as np

from cygno_mw.errors import CygnoError
from cygno_mw.gpu.pedestals import PedestalAccumulator, PedestalMaps

log = logging.getLogger(__name__)


class PedestalMaker:
    """`add(camera, image)` for every image of the run, then `results()`."""

    def __init__(self, backend: str = "auto", shapes: dict[int, tuple[int, int]] | None = None):
        self.backend = backend
        self.shapes = dict(shapes or {})
        self._accumulators: dict[int, PedestalAccumulator] = {}
        self.skipped = 0

    def add(self, camera: int, image: np.ndarray, where: str = "") -> bool:
        """Accumulate one image; False (and counted) when its size does not fit."""
        accumulator = self._accumulators.get(camera)
        if accumulator is None:
            shape = self.shapes.get(camera) or _square_shape(image)
            if shape is None:
                self._skip(f"{where}camera {camera}: image of {image.size} pixels is not "
                           "square; cannot tell its shape")
                return False
            accumulator = self._accumulators[camera] = PedestalAccumulator(shape, self.backend)
        rows, cols = accumulator.shape
        if image.size != rows * cols or (image.ndim == 2 and image.shape != (rows, cols)):
            self._skip(f"{where}camera {camera}: image shape {image.shape} does not match the "
                       f"pedestal run's {rows}x{cols}: skipped")
            return False
        accumulator.add(image)
        return True

    def _skip(self, message: str) -> None:
        self.skipped += 1
        if self.skipped <= 5:
            log.warning(message)

    @property
    def cameras(self) -> list[int]:
        return sorted(self._accumulators)

    def images(self, camera: int) -> int:
        accumulator = self._accumulators.get(camera)
        return 0 if accumulator is None else accumulator.n_images

    def results(self) -> dict[int, PedestalMaps]:
        """Maps per camera; CygnoError when a camera has fewer than 2 images."""
        maps = {}
        for camera, accumulator in sorted(self._accumulators.items()):
            if accumulator.n_images < 2:
                raise CygnoError(f"camera {camera}: a pedestal run needs at least 2 images, "
                                 f"this one has {accumulator.n_images}")
            maps[camera] = accumulator.result()
        return maps


def _square_shape(image: np.ndarray) -> tuple[int, int] | None:
    """The (rows, cols) of a 2-D image, or of a flat bank holding a square frame."""
    if image.ndim == 2:
        return int(image.shape[0]), int(image.shape[1])
    side = round(image.size ** 0.5)
    return (side, side) if side * side == image.size and side > 0 else None
