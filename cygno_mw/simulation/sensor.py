"""Per-pixel pedestal and noise maps of one simulated sCMOS camera (ORCA-Fusion-like).

A pedestal run and a physics run of the same camera must share these maps, so they are
drawn from the camera's own seed only, never from the event seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cygno_mw.errors import UsageError

FULL_FRAME = (2304, 2304)
DEFAULT_CAMERA_SEED = 2304


@dataclass(frozen=True, eq=False)
class SensorModel:
    """One camera: pedestal and noise (rms) maps in ADU, float32, shape (rows, cols)."""

    pedestal: np.ndarray
    noise: np.ndarray
    hot_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seed: int = DEFAULT_CAMERA_SEED

    @property
    def shape(self) -> tuple[int, int]:
        return self.pedestal.shape  # type: ignore[return-value]

    @classmethod
    def generate(
        cls,
        seed: int = DEFAULT_CAMERA_SEED,
        shape: tuple[int, int] = FULL_FRAME,
        pedestal_level: float = 100.0,
        noise_level: float = 2.5,
        hot_pixels: int = 20,
    ) -> SensorModel:
        """Maps of a camera: pedestal ≈ level ± 1.3 ADU, noise ≈ level with a long tail.

        Pedestal: a per-column offset (σ 0.5 ADU, sCMOS column amplifiers) plus a per-pixel
        one (σ 1.2 ADU).  Noise: log-normal around `noise_level` (σ_ln 0.15) with 0.2 % of
        pixels 2-4 times noisier (random telegraph).  `hot_pixels` pixels get a pedestal
        200-3000 ADU higher and 3-10 times the noise.  Flat indices of those are kept.
        """
        rows, cols = _checked_shape(shape)
        if noise_level < 0 or pedestal_level < 0 or hot_pixels < 0:
            raise UsageError("pedestal level, noise level and hot pixels must be >= 0")
        rng = np.random.default_rng([int(seed), 0x5E45])
        n_pixels = rows * cols

        pedestal = rng.standard_normal(n_pixels, dtype=np.float32)
        pedestal *= np.float32(1.2)
        pedestal += np.float32(pedestal_level)
        column_offset = rng.standard_normal(cols, dtype=np.float32) * np.float32(0.5)
        pedestal = pedestal.reshape(rows, cols)
        pedestal += column_offset[None, :]

        noise = rng.standard_normal(n_pixels, dtype=np.float32)
        noise *= np.float32(0.15)
        np.exp(noise, out=noise)
        noise *= np.float32(noise_level)
        n_noisy = n_pixels // 500
        noisy = rng.choice(n_pixels, size=n_noisy, replace=False)
        noise[noisy] *= rng.uniform(2.0, 4.0, n_noisy).astype(np.float32)

        hot = np.sort(rng.choice(n_pixels, size=min(hot_pixels, n_pixels), replace=False))
        flat_pedestal = pedestal.reshape(-1)
        flat_pedestal[hot] += rng.uniform(200.0, 3000.0, hot.size).astype(np.float32)
        noise[hot] *= rng.uniform(3.0, 10.0, hot.size).astype(np.float32)

        return cls(pedestal, noise.reshape(rows, cols), hot.astype(np.int64), int(seed))

    def noise_image(self, rng: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
        """A dark frame before digitisation: pedestal + noise × N(0, 1), float32, in `out`."""
        if out is None:
            out = np.empty(self.shape, dtype=np.float32)
        rng.standard_normal(dtype=np.float32, out=out.reshape(-1))
        out *= self.noise
        out += self.pedestal
        return out


def digitise(frame: np.ndarray) -> np.ndarray:
    """Rounded and clipped to the camera's uint16 range (frame is modified in place)."""
    np.rint(frame, out=frame)
    np.clip(frame, 0.0, 65535.0, out=frame)
    return frame.astype(np.uint16)


def _checked_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or int(shape[0]) < 8 or int(shape[1]) < 8:
        raise UsageError(f"image shape must be two sizes >= 8, got {shape}")
    return int(shape[0]), int(shape[1])
