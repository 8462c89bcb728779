"""The camera's optical acceptance (vignetting) map at full resolution.

The lens collects less light far from the optical axis: LIME's measured map goes from 1.0
at the centre to about 0.22 in the corners.  The simulation multiplies the injected light
by it, and the reconstruction divides the measured light by it (sc_corrintegral), so both
must use the same full-resolution map.  The measurement is a ROOT TH2F (`normmap_lime`,
287 x 287 bins over the 2304 px frame); without it a smooth radial model fitted to that
measurement stands in.

Orientation: the experiment applies the histogram in its left-right mirrored frame (histogram
x along the mirrored column 2303 - column, y along the row); so do we, so that sc_integral is
its sc_integral.  LIME's measured map is a radial profile (its `vign1d`, 181 bins) laid on the
grid: exactly symmetric under x <-> y and, about a centre half a bin (4 px) off the frame's
centre, under left-right mirroring.  Mirrored and unmirrored application therefore differ only
by that half-bin shift: at most 1.0% of the acceptance (edges), 0.27% on average; the map holds
no measured left-right asymmetry, so the experiment's orientation is right by construction and
no real cluster can tell the two apart beyond that 1%.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cygno_mw.errors import CygnoError

log = logging.getLogger(__name__)

FULL_FRAME = (2304, 2304)
DEFAULT_HISTOGRAM = "normmap_lime"

# Built-in model: acceptance = 1 + c1*u + c2*u**2 + c3*u**3 with u = (r / 1000 px)**2 on the
# 2304 px frame, a least-squares fit to the measured LIME map (rms residual 0.004).
_MODEL_COEFFS = (-0.309, 0.022, -0.0065)
_MODEL_FRAME = 2304.0
_MODEL_FLOOR = 0.2


def builtin_vignette_map(shape: tuple[int, int] = FULL_FRAME) -> np.ndarray:
    """A smooth radial acceptance map (1.0 at the centre, ≈0.21 in the corners), float32.

    Each axis is scaled to the 2304 px frame (as `load_vignette_map` stretches the measured
    map), so a smaller test frame has the same range of values.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows <= 0 or cols <= 0:
        raise CygnoError(f"vignetting map shape must be positive, got {shape}")
    row_scale = np.float32(_MODEL_FRAME / 1000.0 / rows)
    col_scale = np.float32(_MODEL_FRAME / 1000.0 / cols)
    dy = ((np.arange(rows, dtype=np.float32) - (rows - 1) / 2) * row_scale) ** 2
    dx = ((np.arange(cols, dtype=np.float32) - (cols - 1) / 2) * col_scale) ** 2
    u = dy[:, None] + dx[None, :]
    c1, c2, c3 = _MODEL_COEFFS
    # 1 + u * (c1 + u * (c2 + u * c3)) in float32, in place: one frame-sized temporary
    acceptance = u * np.float32(c3)
    acceptance += np.float32(c2)
    acceptance *= u
    acceptance += np.float32(c1)
    acceptance *= u
    acceptance += np.float32(1.0)
    np.clip(acceptance, _MODEL_FLOOR, 1.0, out=acceptance)
    return acceptance


def load_vignette_map(
    path: str | Path | None = None,
    shape: tuple[int, int] = FULL_FRAME,
    histogram: str = DEFAULT_HISTOGRAM,
) -> np.ndarray:
    """Full-resolution acceptance map (rows, cols) float32 from a measured ROOT file.

    `path` None, or a file that does not exist, gives `builtin_vignette_map(shape)` (the
    latter with a warning).  A file that exists but cannot be read raises CygnoError.
    """
    if path is None:
        return builtin_vignette_map(shape)
    path = Path(path)
    if not path.exists():
        log.warning("vignetting map %s not found: using the built-in model", path)
        return builtin_vignette_map(shape)
    bins = _read_histogram(path, histogram)
    return resample_bilinear(bins, shape)


def _read_histogram(path: Path, histogram: str) -> np.ndarray:
    """The histogram's bin contents as (rows = y bins, cols = x bins) float32."""
    try:
        import uproot

        with uproot.open(path) as root_file:
            values = root_file[histogram].values()
    except KeyError:
        raise CygnoError(f"vignetting map {path}: no histogram {histogram!r}") from None
    except Exception as exc:  # uproot raises many kinds for a file that is not ROOT
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CygnoError(f"vignetting map {path} is not a readable ROOT file: {reason}") from None
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or min(values.shape) < 2:
        raise CygnoError(f"vignetting map {path}: {histogram!r} is not a 2-D histogram")
    if not np.all(np.isfinite(values)) or values.max() <= 0:
        raise CygnoError(f"vignetting map {path}: {histogram!r} holds no usable values")
    # ROOT indexes [x bin, y bin]; images are [row, col], with x along the mirrored column
    return np.ascontiguousarray(values.T[:, ::-1])


def resample_bilinear(bins: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a coarse map spanning the whole frame onto `shape` pixels.

    Bin centres and pixel centres are matched in frame coordinates; outside the outermost
    bin centres the edge value is held.  Separable: rows first, then columns.
    """
    rows, cols = int(shape[0]), int(shape[1])
    r0, r1, wr = _axis_weights(bins.shape[0], rows)
    c0, c1, wc = _axis_weights(bins.shape[1], cols)
    by_rows = bins[r0] * (1.0 - wr)[:, None] + bins[r1] * wr[:, None]
    out = by_rows[:, c0] * (1.0 - wc)[None, :]
    out += by_rows[:, c1] * wc[None, :]
    return out.astype(np.float32, copy=False)


def _axis_weights(n_bins: int, n_pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower/upper bin index and upper weight for each pixel along one axis."""
    position = (np.arange(n_pixels, dtype=np.float64) + 0.5) * (n_bins / n_pixels) - 0.5
    position = np.clip(position, 0.0, n_bins - 1.0)
    lower = np.minimum(np.floor(position).astype(np.intp), n_bins - 2)
    weight = (position - lower).astype(np.float32)
    return lower, lower + 1, weight
