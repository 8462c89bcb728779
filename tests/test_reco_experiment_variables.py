"""Cluster variables by the experiment's own arithmetic (issue 23), where order or rounding
decides the answer.  Each expectation is written from the experiment's public code
(CYGNUS-RD/reconstruction: clusterTools.Cluster, snakes.py) and applied to the hits in its
frame: X = row, Y = n_cols - 1 - column.
"""

from __future__ import annotations

import numpy as np
import pytest

from cygno_mw.gpu.backend import numpy_backend
from cygno_mw.gpu.cluster_variables import _experiment_theta

N_MACRO_COLS = 576  # LIME: 2304 px rebinned by 4


def _experiments_theta(rows: np.ndarray, cols: np.ndarray) -> float:
    """clusterTools.Cluster.eigenvectors on the cluster snakes.py builds: the macro-pixels
    np.unique'd in its frame (sorted by X, then Y), np.cov of (X, Y), np.linalg.eig, atan2 of
    the first eigenvector as it comes."""
    xy = np.unique(np.stack((rows, N_MACRO_COLS - 1 - cols), axis=1), axis=0)
    _, vectors = np.linalg.eig(np.cov(xy.T.astype(float)))
    return float(np.degrees(np.arctan2(*vectors[:, 0][::-1])))


def _raw_moment_theta(rows: np.ndarray, cols: np.ndarray) -> float:
    """The same matrix from raw-moment sums (our arithmetic before issue 23)."""
    x, y = rows.astype(float), (N_MACRO_COLS - 1 - cols).astype(float)
    n = len(x)
    cxx = ((x * x).sum() - x.sum() ** 2 / n) / (n - 1)
    cyy = ((y * y).sum() - y.sum() ** 2 / n) / (n - 1)
    cxy = ((x * y).sum() - x.sum() * y.sum() / n) / (n - 1)
    _, vectors = np.linalg.eig(np.array([[cxx, cxy], [cxy, cyy]]))
    return float(np.degrees(np.arctan2(*vectors[:, 0][::-1])))


# a cluster whose covariance is a multiple of the identity in exact arithmetic: which
# eigenvector comes first is decided by the last bits of the off-diagonal term
TIE = np.array([[1, 1], [1, 2], [1, 5], [2, 5], [3, 3], [3, 5], [4, 3], [4, 4], [5, 2]])


def test_theta_breaks_ties_as_np_cov_does():
    rows, cols = TIE[:, 0] + 191, TIE[:, 1] + 360
    expected = _experiments_theta(rows, cols)
    assert expected != _raw_moment_theta(rows, cols)  # the arithmetic decides this one
    # our hit order is the image's row-major one, not the experiment's
    order = np.lexsort((cols, rows))
    ours = _experiment_theta(rows[order], cols[order], np.zeros(len(rows), np.int64), 1,
                             N_MACRO_COLS, numpy_backend())
    assert ours[0] == expected


@pytest.mark.parametrize("seed", range(5))
def test_theta_equals_the_experiments_on_several_clusters(seed):
    rng = np.random.default_rng(seed)
    rows, cols, seg = [], [], []
    for k in range(6):
        n = int(rng.integers(2, 40))
        pts = np.unique(rng.integers(0, 12, (n, 2)) + rng.integers(0, 560, 2), axis=0)
        rows.append(pts[:, 0])
        cols.append(pts[:, 1])
        seg.append(np.full(len(pts), k))
    rows, cols, seg = (np.concatenate(a) for a in (rows, cols, seg))
    shuffle = rng.permutation(len(rows))
    ours = _experiment_theta(rows[shuffle], cols[shuffle], seg[shuffle], 6, N_MACRO_COLS,
                             numpy_backend())
    for k in range(6):
        assert ours[k] == _experiments_theta(rows[seg == k], cols[seg == k])
