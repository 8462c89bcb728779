"""The seeding equals sklearn's weighted cityblock DBSCAN: same cores, same clusters."""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu.backend import get_backend
from cygno_mw.gpu.dbscan_seeding import dbscan_seed
from cygno_mw.gpu.noise_cleaning import clean_rebinned
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.rebin import reference_median_rebin

sklearn_cluster = pytest.importorskip("sklearn.cluster")
CPU = get_backend("numpy")


def assert_same_as_sklearn(rows, cols, weights, eps, min_samples, shape):
    """Cores and core labels identical; each border point next to a core of its cluster."""
    weights = np.asarray(weights, dtype=np.float32)
    ours = dbscan_seed(rows, cols, weights, eps, min_samples, shape, CPU)
    points = np.column_stack([rows, cols])
    ref = sklearn_cluster.DBSCAN(eps=eps, min_samples=min_samples, metric="cityblock").fit(
        points, sample_weight=weights.astype(np.float64)
    )
    core = np.zeros(len(points), dtype=bool)
    core[ref.core_sample_indices_] = True
    np.testing.assert_array_equal(ours.is_core, core)
    np.testing.assert_array_equal(ours.labels[core], ref.labels_[core])
    assert ours.n_clusters == len(set(ref.labels_[core].tolist()))
    border = ~core
    np.testing.assert_array_equal(ours.labels[border] < 0, ref.labels_[border] < 0)
    reach = int(np.floor(eps))
    for i in np.nonzero(border & (ours.labels >= 0))[0]:
        near = np.abs(points[core] - points[i]).sum(axis=1) <= reach
        assert (ours.labels[core][near] == ours.labels[i]).any()
    return ours


def _macro_pixels(pixels: np.ndarray, clean: bool):
    """Real full-resolution hits (x, y, value) -> macro-pixels as the pipeline makes them."""
    p = RecoParams()
    rows = pixels[:, 0].astype(int)
    cols = pixels[:, 1].astype(int)
    r0, c0 = (rows.min() // 4) * 4 - 32, (cols.min() // 4) * 4 - 32
    shape = (((rows.max() - r0) // 4 + 9) * 4, ((cols.max() - c0) // 4 + 9) * 4)
    image = np.zeros(shape, dtype=np.float32)
    image[rows - r0, cols - c0] = pixels[:, 2]
    zs = np.where(image > p.nsigma * 2.0, image, 0)  # a flat 2-ADU noise map
    rebinned = reference_median_rebin(zs, p.rebin).astype(np.float32)
    grid = clean_rebinned(rebinned, p, np) if clean else rebinned
    r, c = np.nonzero(grid > p.point_threshold)
    return r, c, grid[r, c], grid.shape


@pytest.mark.parametrize("clean", [True, False])
def test_real_cygno_clusters(shared_data, clean):
    files = sorted((shared_data / "pixels").glob("*.npy"))
    assert files, "no pixel lists in the shared data"
    n_clusters = 0
    for path in files:
        pixels = np.load(path)
        rows, cols, weights, shape = _macro_pixels(pixels, clean)
        if len(rows) == 0:
            continue
        n_clusters += assert_same_as_sklearn(rows, cols, weights, 12, 20, shape).n_clusters
    assert n_clusters >= len(files)  # every real cluster gives at least one seed


@pytest.mark.parametrize("seed", range(6))
def test_exact_at_the_min_samples_threshold(seed):
    """Weights on a 1/8 grid make many neighbourhood sums land exactly on min_samples."""
    rng = np.random.default_rng(seed)
    shape = (80, 90)
    n = int(rng.integers(200, 1500))
    flat = rng.choice(shape[0] * shape[1], n, replace=False)
    rows, cols = np.divmod(flat, shape[1])
    weights = rng.integers(4, 17, n) / 8.0  # 0.5 .. 2.0
    eps = [12, 12.0, 5, 3.5][seed % 4]
    sums = dbscan_seed(rows, cols, weights.astype(np.float32), eps, 1, shape, CPU)
    assert sums.n_clusters >= 1
    for min_samples in (20, 7, 33):
        assert_same_as_sklearn(rows, cols, weights, eps, min_samples, shape)


def test_random_float32_weights_and_degenerate_inputs():
    rng = np.random.default_rng(11)
    rows, cols = np.divmod(rng.choice(3000, 600, replace=False), 60)
    weights = rng.uniform(0.5, 3.0, 600).astype(np.float32)
    assert_same_as_sklearn(rows, cols, weights, 12, 20, (50, 60))
    assert_same_as_sklearn(rows[:1], cols[:1], np.array([25.0]), 12, 20, (50, 60))
    empty = dbscan_seed(np.zeros(0, int), np.zeros(0, int), np.zeros(0), 12, 20, (8, 8), CPU)
    assert empty.n_clusters == 0 and empty.labels.shape == (0,)
