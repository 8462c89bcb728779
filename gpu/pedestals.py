"""Per-pixel pedestal mean and noise maps from a pedestal run, in one streaming pass.

Only running sums live in memory (never the stack of images): sums of (x - K) and
(x - K)^2 in float64, shifted by the first image K.  For the camera's integer pixels these
sums are exact, so the result does not depend on the number of images or their order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError, UsageError

from .backend import Backend, get_backend


@dataclass(frozen=True)
class PedestalMaps:
    """Mean and sigma (sample standard deviation, n-1) of every pixel, float32 (rows, cols)."""

    mean: np.ndarray
    sigma: np.ndarray
    n_images: int

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float32)
        sigma = np.asarray(self.sigma, dtype=np.float32)
        if mean.ndim != 2 or mean.shape != sigma.shape or mean.size == 0:
            raise CygnoError(
                f"pedestal maps must be two 2-D arrays of one shape, got mean {mean.shape} "
                f"and sigma {sigma.shape}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(sigma).all()):
            raise CygnoError("pedestal maps contain NaN or infinite values")
        if (sigma < 0).any():
            raise CygnoError("pedestal sigma map has negative values")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "n_images", int(self.n_images))

    @property
    def shape(self) -> tuple[int, int]:
        return self.mean.shape  # type: ignore[return-value]

    def summary(self) -> dict[str, float]:
        """Whole-sensor numbers for the run log / monitor."""
        return {
            "pedestal_mean": float(self.mean.mean(dtype=np.float64)),
            "pedestal_sigma_mean": float(self.sigma.mean(dtype=np.float64)),
            "pedestal_sigma_max": float(self.sigma.max()),
            "pedestal_n_images": float(self.n_images),
        }

    def save(self, path: str | Path) -> Path:
        """Write an .npz (mean, sigma, n_images); returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        with open(path, "wb") as out:
            np.savez(out, mean=self.mean, sigma=self.sigma, n_images=np.int64(self.n_images))
        return path

    @classmethod
    def load(cls, path: str | Path) -> PedestalMaps:
        """Read maps written by `save`; a clear CygnoError for a missing or foreign file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"mean", "sigma", "n_images"} - set(data.files)
                if missing:
                    raise CygnoError(
                        f"{path} is not a pedestal file (missing {', '.join(sorted(missing))})"
                    )
                return cls(data["mean"], data["sigma"], int(data["n_images"]))
        except FileNotFoundError:
            raise CygnoError(f"pedestal file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise CygnoError(f"pedestal file {path} cannot be read: {exc}") from None


class PedestalAccumulator:
    """Feed pedestal-run images one at a time with `add`; `result()` gives the maps."""

    def __init__(self, shape: tuple[int, int] = (2304, 2304), backend: str = "auto") -> None:
        if len(shape) != 2 or min(shape) <= 0:
            raise UsageError(f"pedestal shape must be (rows, cols) > 0, got {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self._backend: Backend = get_backend(backend)
        self.n_images = 0
        self._shift: Any = None
        self._sum: Any = None
        self._sum_sq: Any = None

    @property
    def backend(self) -> str:
        return self._backend.name

    def add(self, image: Any) -> None:
        """Accumulate one raw image (any integer or float dtype; flat arrays are reshaped)."""
        xp = self._backend.xp
        frame = _as_frame(image, self.shape)
        data = xp.asarray(frame).astype(xp.float64)
        if self._shift is None:
            self._shift = data
            self._sum = xp.zeros(self.shape, dtype=xp.float64)
            self._sum_sq = xp.zeros(self.shape, dtype=xp.float64)
        else:
            data -= self._shift
            self._sum += data
            data *= data
            self._sum_sq += data
        self.n_images += 1

    def result(self) -> PedestalMaps:
        """Mean and n-1 standard deviation; needs at least two images."""
        if self.n_images < 2:
            raise UsageError(
                f"pedestal maps need at least 2 images, got {self.n_images}"
            )
        xp = self._backend.xp
        n = float(self.n_images)
        mean = self._shift + self._sum / n
        var = (self._sum_sq - self._sum * self._sum / n) / (n - 1.0)
        sigma = xp.sqrt(xp.maximum(var, 0.0))
        return PedestalMaps(
            self._backend.to_host(mean.astype(xp.float32)),
            self._backend.to_host(sigma.astype(xp.float32)),
            self.n_images,
        )


def _as_frame(image: Any, shape: tuple[int, int]) -> Any:
    """The image as a (rows, cols) array, accepting a flat bank of the right size."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    kind = np.dtype(image.dtype).kind
    if kind not in "uif":
        raise UsageError(f"image dtype {image.dtype} is not numeric")
    size = shape[0] * shape[1]
    if tuple(image.shape) == shape:
        frame = image
    elif image.ndim == 1 and image.size == size:
        frame = image.reshape(shape)
    else:
        raise UsageError(f"image shape {tuple(image.shape)} does not match {shape}")
    if kind == "f" and not np.isfinite(float(frame.sum())):
        raise UsageError("image contains NaN or infinite values")
    return frame
