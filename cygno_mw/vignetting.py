"""The camera's optical acceptance (vignetting) map at full resolution.

The lens collects less light far from the optical axis: LIME's measured map goes from 1.0
at the centre to about 0.22 in the corners.  The simulation multiplies the injected light
by it, and the reconstruction divides the measured light by it (sc_integral).  The
measurement is a ROOT TH2F (`normmap_lime`, 287 x 287 bins over the 2304 px frame); without
it a smooth radial model fitted to that measurement stands in.

The measured map is laid on the frame exactly as the experiment's
`cameraTools.loadVignettingMap` lays it (CYGNUS-RD/reconstruction), so that sc_integral is
its sc_integral:

- in its frame (the camera array mirrored left-right: X = row, Y = last column - column),
  histogram x along Y and y along X;
- block expansion, no interpolation: blocks of int(2304 / 287) = 8 px, so the 287 blocks
  cover 2296 px and the last 8 rows and the last 8 columns of its frame (raw columns 0-7)
  keep its initial correction factor 0: light there counts as 0.  We store acceptances (the
  light is divided by them): those pixels hold +inf, and v / inf = 0.

The simulation needs a physical acceptance everywhere: `physical_acceptance` holds the
nearest measured block over that uncovered edge.  LIME's map is a radial profile (its
`vign1d`) laid on the grid, symmetric under x <-> y; mirrored and unmirrored application
differ by at most 1.0% (edges).
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
    """Full-resolution acceptance map (rows, cols) float32 from a measured ROOT file, laid
    as the experiment lays it (`experiment_blocks`: +inf where it corrects by 0).

    `path` None, or a file that does not exist, gives `builtin_vignette_map(shape)` (the
    latter with a warning).  A file that exists but cannot be read raises CygnoError.
    """
    if path is None:
        return builtin_vignette_map(shape)
    path = Path(path)
    if not path.exists():
        log.warning("vignetting map %s not found: using the built-in model", path)
        return builtin_vignette_map(shape)
    return experiment_blocks(_read_histogram(path, histogram), shape)


def _read_histogram(path: Path, histogram: str) -> np.ndarray:
    """The histogram's bin contents as ROOT indexes them, [x bin, y bin], float32."""
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
    if not np.all(np.isfinite(values)) or values.min() <= 0:
        raise CygnoError(f"vignetting map {path}: {histogram!r} holds no usable values")
    return values


def experiment_blocks(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """cameraTools.loadVignettingMap's layout of a [x bin, y bin] histogram on a (rows, cols)
    frame, as acceptances: in its frame (row X, mirrored column Y) the pixel gets the bin
    (x = Y // by, y = X // bx), blocks of bx = rows // n_y and by = cols // n_x pixels; pixels
    past the last whole block get +inf (its correction factor 0).  A frame with fewer
    pixels than bins (small simulated test frames; the experiment has none) samples the
    bin under each pixel instead, in the same orientation."""
    rows, cols = int(shape[0]), int(shape[1])
    n_x, n_y = values.shape
    bx, by = rows // n_y, cols // n_x
    by_row_col = values.T.astype(np.float32)  # [y bin, x bin]: along X, along Y
    if bx < 1 or by < 1:
        theirs = by_row_col[(np.arange(rows) * n_y) // rows][:, (np.arange(cols) * n_x) // cols]
    else:
        theirs = np.full((rows, cols), np.inf, dtype=np.float32)  # [X, Y]: its frame
        blocks = np.repeat(np.repeat(by_row_col, bx, axis=0), by, axis=1)
        theirs[: blocks.shape[0], : blocks.shape[1]] = blocks
    return np.ascontiguousarray(theirs[:, ::-1])  # raw column = last column - Y


def physical_acceptance(acceptance: np.ndarray) -> np.ndarray:
    """The map with its uncovered edge (+inf) replaced by the nearest covered row/column:
    what the simulation multiplies light by."""
    acc = np.array(acceptance, dtype=np.float32)
    covered_rows = np.flatnonzero(np.isfinite(acc).any(axis=1))
    covered_cols = np.flatnonzero(np.isfinite(acc).any(axis=0))
    if covered_rows.size == 0:
        raise CygnoError("vignetting map covers no pixel")
    rows = covered_rows[np.clip(np.searchsorted(covered_rows, np.arange(acc.shape[0])),
                                0, covered_rows.size - 1)]
    cols = covered_cols[np.clip(np.searchsorted(covered_cols, np.arange(acc.shape[1])),
                                0, covered_cols.size - 1)]
    return np.ascontiguousarray(acc[rows][:, cols])
