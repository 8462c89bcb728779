"""Pedestal mean and noise maps of a pedestal run, and their drift since the previous one.

The maps come from the files the `pedestals` table names.  With a previous pedestal run of
the same camera, a second row shows the difference (this run minus the previous) of both
maps; their means and spreads come back in `PedestalResult.drift`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

from . import figure

BLOCK = 8  # pixels per displayed pixel: 2304 -> 288 (noise maps compress badly)

Drift = dict[str, float]


@dataclass
class PedestalResult:
    run: int
    camera: int
    previous_run: int | None
    mean: float
    noise: float
    drift: Drift | None  # mean_shift, mean_shift_rms, noise_shift, noise_shift_rms (ADU)
    paths: list[Path] = field(default_factory=list)


def _block_mean(frame: np.ndarray, block: int = BLOCK) -> np.ndarray:
    rows, cols = frame.shape[0] // block, frame.shape[1] // block
    return frame[: rows * block, : cols * block].reshape(rows, block, cols, block).mean(
        axis=(1, 3))


def _maps(store: Any, row: Any) -> Any:
    from cygno_mw.gpu.pedestals import PedestalMaps

    sha256 = row.get("map_sha256")
    path = store.localize(int(row["run"]), int(row["camera"]), str(row["map_location"]),
                          sha256 if isinstance(sha256, str) and sha256 else None)
    return PedestalMaps.load(path)


def draw_pedestal(db: Any, pedestal_dir: Path, run: int, paths: Sequence[Path], *,
                  camera: int = 0) -> PedestalResult:
    from cygno_mw.analyzers.pedestal_store import PedestalStore

    rows = db.pedestals(camera=int(camera), where=f"run <= {int(run)}")
    if rows.empty or int(rows["run"].iloc[-1]) != int(run):
        raise CygnoError(f"run {run} has no pedestal map of camera {camera} in the pedestals "
                         "table (is it a pedestal run, replayed?)")
    rows = rows.sort_values("run")
    store = PedestalStore(pedestal_dir)
    current = _maps(store, rows.iloc[-1])
    previous_run, previous = None, None
    if len(rows) > 1:
        previous_run = int(rows.iloc[-2]["run"])
        previous = _maps(store, rows.iloc[-2])
        if previous.shape != current.shape:
            previous_run, previous = None, None

    panels = 2 if previous is None else 4
    fig, axes = figure.new_figure(panels // 2, 2, size=(10.0, 4.4 * (panels // 2)),
                                  squeeze=False)
    fig.suptitle(f"pedestal run {run}, camera {camera}: {current.n_images} images")
    _map(fig, axes[0][0], current.mean, "pedestal mean (ADU)", "viridis")
    _map(fig, axes[0][1], current.sigma, "noise σ (ADU)", "inferno")
    drift = None
    if previous is not None:
        mean_shift = current.mean.astype(np.float64) - previous.mean
        noise_shift = current.sigma.astype(np.float64) - previous.sigma
        drift = {"mean_shift": float(mean_shift.mean()), "mean_shift_rms": float(mean_shift.std()),
                 "noise_shift": float(noise_shift.mean()),
                 "noise_shift_rms": float(noise_shift.std())}
        _map(fig, axes[1][0], mean_shift, f"mean − run {previous_run} (ADU)", "coolwarm",
             symmetric=True)
        _map(fig, axes[1][1], noise_shift, f"noise − run {previous_run} (ADU)", "coolwarm",
             symmetric=True)
        axes[1][0].set_title(f"mean drift {drift['mean_shift']:+.2f} ± "
                             f"{drift['mean_shift_rms']:.2f} ADU", fontsize=9)
        axes[1][1].set_title(f"noise drift {drift['noise_shift']:+.3f} ± "
                             f"{drift['noise_shift_rms']:.3f} ADU", fontsize=9)
    axes[0][0].set_title(f"mean {float(current.mean.mean()):.2f} ADU", fontsize=9)
    axes[0][1].set_title(f"noise {float(current.sigma.mean()):.3f} ADU", fontsize=9)
    written = figure.save(fig, paths)
    return PedestalResult(int(run), int(camera), previous_run, float(current.mean.mean()),
                          float(current.sigma.mean()), drift, written)


def _map(fig: Any, axis: Any, values: np.ndarray, label: str, cmap: str, *,
         symmetric: bool = False) -> None:
    shown = _block_mean(np.asarray(values, dtype=np.float64))
    low, high = np.percentile(shown, [0.5, 99.5])
    if symmetric:
        high = max(abs(low), abs(high), 1e-6)
        low = -high
    extent = (0, shown.shape[1] * BLOCK, shown.shape[0] * BLOCK, 0)
    picture = axis.imshow(shown, cmap=cmap, vmin=low, vmax=high, extent=extent,
                          interpolation="nearest")
    fig.colorbar(picture, ax=axis, fraction=0.046, pad=0.02, label=label)
    axis.set_xlabel("x (pixel column)")
    axis.set_ylabel("y (pixel row)")
