"""The order-dependent steps run in the experiment's frame, on every path (issue 23).

The experiment (CYGNUS-RD/reconstruction, reconstruction.py) reads the camera bank as cygno
lib's `daq_cam2array` reshapes it, then takes `np.rot90` and its transpose: its frame is
`np.fliplr` of the raw array.  Its 2x2 median (snakes.py: scipy `median_filter(size=2)`) and
its in-place noise cleaning (cython_cygno.pyx `nred_cython`) run in that frame.  Each test
below states the experiment's convention from its public code, applies it literally to the
mirrored array, mirrors the answer back, and requires the NumPy reference, the compiled CPU
kernels and the CUDA kernels (host build) to give it bit for bit, on small arrays where the
unmirrored convention gives a different answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter

from cygno_mw.gpu import cuda_kernels
from cygno_mw.gpu.frame_cpu import CpuFrameSteps, clean_rebinned_cpu
from cygno_mw.gpu.noise_cleaning import clean_rebinned, zero_border
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.reference_cpu import NumpyFrameSteps


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# --- the 2x2 median -------------------------------------------------------------------

def _experiments_median(raw_frame: np.ndarray) -> np.ndarray:
    """snakes.py: `median_filter(image_fr_zs, size=2)` on its frame, np.fliplr(raw)."""
    return np.fliplr(median_filter(np.fliplr(raw_frame.astype(np.float64)), size=2))


def _median_paths(raw: np.ndarray, host) -> dict[str, np.ndarray]:
    """The median (rebin 1: no block mean) of a uint16 frame on the three paths, with a zero
    pedestal and a threshold below 0 so that zero suppression keeps every value."""
    rows, cols = raw.shape
    params = RecoParams(backend="numpy", ymin=0, ymax=rows, xmin=0, xmax=cols, rebin=1)
    pedestal = np.zeros(raw.shape, dtype=np.float32)
    threshold = np.full(raw.shape, -1.0, dtype=np.float32)
    out = np.empty((1, rows, cols), dtype=np.float32)
    cuda_kernels.median_rebin(raw[None].astype(np.float32), out, 1,
                              kernel=host["cygno_median_rebin"])
    return {
        "numpy": NumpyFrameSteps(params, pedestal, threshold).run(raw).rebinned,
        "compiled": CpuFrameSteps(params, pedestal, threshold).run(raw).rebinned,
        "cuda": out[0],
    }


def test_median_window_is_raw_columns_c_and_c_plus_1(host):
    # one bright column: where the filtered light lands tells the window
    raw = np.zeros((4, 6), dtype=np.uint16)
    raw[:, 3] = 50
    raw[2:, 5] = 20
    expected = _experiments_median(raw)
    # scipy's window in the mirrored frame is [j-1, j]: raw columns (c, c+1), so the
    # column spreads to its left; the last raw column pairs with itself
    assert expected[3].tolist() == [0, 0, 50, 50, 20, 20]
    unmirrored = median_filter(raw.astype(np.float64), size=2)
    assert unmirrored[3].tolist() == [0, 0, 0, 50, 50, 20]  # the conventions differ here
    for name, got in _median_paths(raw, host).items():
        np.testing.assert_array_equal(_bits(got), _bits(expected), err_msg=name)


@pytest.mark.parametrize("seed", range(4))
def test_median_on_random_frames_and_edges(host, seed):
    """Top row and last raw column reflect (scipy's 'reflect' on the mirrored frame)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 300, (9, 11)).astype(np.uint16)
    raw[rng.random(raw.shape) < 0.4] = 0
    expected = _experiments_median(raw)
    assert not np.array_equal(expected, median_filter(raw.astype(np.float64), size=2))
    for name, got in _median_paths(raw, host).items():
        np.testing.assert_array_equal(_bits(got), _bits(expected), err_msg=name)


# --- the in-place noise-cleaning raster -------------------------------------------------

def _nred_in_its_frame(image: np.ndarray, p: RecoParams) -> np.ndarray:
    """cython_cygno.pyx nred_cython, from reading it: zero a 2-pixel border; then for
    k = 1 .. n-3 (rows), j = 1 .. n-3 (columns of *its* frame) in that order, in place,
    with float32 scalars: the 8-neighbour mean m; a pixel further than 10 from m becomes
    m; m < meancut, or fewer than 3 non-zero of the 3x3 (the pixel's own value before
    the update counted), gives 0."""
    e = np.fliplr(image).astype(np.float64)  # its frame
    b = p.clean_border
    e[:b, :] = e[-b:, :] = 0
    e[:, :b] = e[:, -b:] = 0
    f32 = np.float32
    for k in range(1, e.shape[0] - 2):
        for j in range(1, e.shape[1] - 2):
            win = [f32(v) for v in e[k - 1 : k + 2, j - 1 : j + 2].T.ravel()]
            spx = win.pop(4)  # column-major: a b c / d spx f / g h i, a..c at column j-1
            total = win[0]
            for v in win[1:]:
                total = f32(total + v)
            mean = f32(total / f32(8))
            if abs(spx - mean) > p.clean_outlier:
                e[k, j] = mean
            if mean < p.min_neighbors_average:
                e[k, j] = 0
            if sum(v != 0 for v in win) + (spx != 0) < p.clean_min_active:
                e[k, j] = 0
    return np.fliplr(e).astype(np.float32)


def _cleaning_paths(image: np.ndarray, p: RecoParams, host) -> dict[str, np.ndarray]:
    bordered = zero_border(image[None], p.clean_border, np)
    cuda = bordered.copy()
    cuda_kernels.noise_clean(bordered, cuda, p.clean_outlier, p.min_neighbors_average,
                             p.clean_min_active, kernel=host["cygno_noise_clean"])
    return {
        "array fixed point": clean_rebinned(image, p, np),
        "compiled": clean_rebinned_cpu(image, p),
        "cuda": cuda[0],
    }


def test_cleaning_walks_raw_columns_right_to_left(host):
    """A row of pixels that are each kept only while their visited neighbour still is:
    walked right to left (the experiment's order on the raw array) the chain survives from
    the right; walked left to right the outcome differs."""
    p = RecoParams()
    image = np.zeros((6, 10), dtype=np.float32)
    image[2, 2:8] = [1.0, 2.0, 3.0, 4.0, 5.0, 30.0]
    image[3, 2:8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    expected = _nred_in_its_frame(image, p)
    unmirrored = np.fliplr(_nred_in_its_frame(np.fliplr(image), p))
    assert not np.array_equal(expected, unmirrored)  # the visiting order matters here
    for name, got in _cleaning_paths(image, p, host).items():
        np.testing.assert_array_equal(_bits(got), _bits(expected), err_msg=name)


@pytest.mark.parametrize("seed", range(6))
def test_cleaning_on_random_images(host, seed):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(6, 24)), int(rng.integers(6, 24)))
    image = (rng.random(shape) < rng.uniform(0.3, 0.9)) * rng.exponential(3.0, shape)
    image[rng.random(shape) < 0.05] = 40.0  # outliers replaced by the mean
    image = image.astype(np.float32)
    p = RecoParams()
    expected = _nred_in_its_frame(image, p)
    for name, got in _cleaning_paths(image, p, host).items():
        np.testing.assert_array_equal(_bits(got), _bits(expected), err_msg=name)
