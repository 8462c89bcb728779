"""Cluster variables by the experiment's own arithmetic (issue 23), where order or rounding
decides the answer.  Each expectation is written from the experiment's public code
(CYGNUS-RD/reconstruction: clusterTools.Cluster, snakes.py) and applied to the hits in its
frame: X = row, Y = n_cols - 1 - column.
"""

from __future__ import annotations

import math

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
    ours, _, _ = _experiment_theta(rows[order], cols[order], np.zeros(len(rows), np.int64), 1,
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
    ours, _, _ = _experiment_theta(rows[shuffle], cols[shuffle], seg[shuffle], 6,
                                   N_MACRO_COLS, numpy_backend())
    for k in range(6):
        assert ours[k] == _experiments_theta(rows[seg == k], cols[seg == k])


# --- the profile variables, by a literal transcription of calcProfiles -------------------

def _calc_profiles(macro_xy: np.ndarray, z_theirs: np.ndarray, rebin: int) -> dict[str, float]:
    """clusterTools.Cluster.calcProfiles / clusterShapes from reading them, hit by hit with
    Python floats: the hits of its fullResHits, turned by rotate_around_point about
    mean_point with EVs[0]; cluth2d set bin by bin and projected; the profiles filled."""
    xy = np.unique(macro_xy, axis=0)
    mean_point = np.array([np.mean(xy[:, 0]), np.mean(xy[:, 1])])
    values, vectors = np.linalg.eig(np.cov(xy.T.astype(float)))
    cos, sin = vectors[:, np.argmax(values)]
    hits = []
    for mx, my in xy:
        for rxf in range(mx * rebin, (mx + 1) * rebin):
            for ryf in range(my * rebin, (my + 1) * rebin):
                hits.append((rxf, ryf, z_theirs[rxf, ryf]))
    hits = np.array(hits)
    ox, oy = mean_point
    rot = [(ox + cos * (x - ox) + sin * (y - oy), oy - sin * (x - ox) + cos * (y - oy), z)
           for x, y, z in hits]
    rxmin = min(h[0] for h in rot)  # cluth2d spans [0, int(length) + 2): all hits inside
    rymin = min(h[1] for h in rot)
    out = {}
    # cluth2d.SetBinContent(round(x - rxmin) + 1, round(y - rymin) + 1, z): last one wins
    cells = {}
    for x, y, z in rot:
        cells[(int(np.round(x - rxmin)) + 1, int(np.round(y - rymin)) + 1)] = z
    for name, axis in (("sc_longrms", 0), ("sc_latrms", 1)):
        proj = {}
        for key, z in cells.items():
            proj[key[axis]] = proj.get(key[axis], 0.0) + z
        sw = sum(proj.values())
        mean = sum(w * (b - 0.5) for b, w in proj.items()) / sw
        out[name] = math.sqrt(max(sum(w * (b - 0.5) ** 2 for b, w in proj.items()) / sw
                                  - mean * mean, 0.0))
    # the profiles: edges from int() of the coordinates, shifted by int(min); Fill stats
    for name, axis, low in (("sc_lfullrms", 0, rxmin), ("sc_tfullrms", 1, rymin)):
        h = [int(r[axis]) for r in rot]
        first, last = min(h) - int(low), max(h) - int(low)
        sw = swx = swx2 = 0.0
        for r in rot:
            x, w = r[axis] - low, r[2]
            if first <= x < last:
                sw += w
                swx += w * x
                swx2 += w * x * x
        out[name] = math.sqrt(max(swx2 / sw - (swx / sw) ** 2, 0.0))
    return out


def test_profile_variables_equal_the_experiments_transcription():
    from cygno_mw.gpu.params import RecoParams
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor
    from cygno_mw.simulation.camera import CameraSimulator
    from cygno_mw.simulation.sensor import SensorModel
    from cygno_mw.simulation.signals import SignalMix
    from cygno_mw.vignetting import builtin_vignette_map

    shape = (512, 512)
    sensor = SensorModel.generate(5, shape)
    vignette = builtin_vignette_map(shape)
    sim = CameraSimulator(sensor, vignette, SignalMix(fe55=6, muon=1, nr=2, er=2), seed=9)
    raw, _ = sim.image()
    params = RecoParams(backend="numpy", ymin=0, ymax=512, xmin=0, xmax=512)
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 200)
    result = Reconstructor(params, maps, vignette).process(raw)
    assert result.n_clusters >= 5
    # the light as the experiment's hits carry it, in its frame
    value = np.where(raw < params.cimax, raw.astype(np.float32), np.float32(0))
    value = value - sensor.pedestal.astype(np.float32)
    z_theirs = np.fliplr((value / vignette).astype(np.float64))
    m = shape[1] // params.rebin
    for k in range(result.n_clusters):
        mine = result.hits["cluster"] == k
        macro = np.stack((result.hits["row"][mine], m - 1 - result.hits["col"][mine]), axis=1)
        expected = _calc_profiles(macro.astype(np.int64), z_theirs, params.rebin)
        for name, want in expected.items():
            assert result.clusters[name][k] == pytest.approx(want, rel=1e-9), (k, name)
        assert result.clusters["sc_pearson"][k] == 999.0


# --- the profiles' bins, fits and peaks ---------------------------------------------------

def _dynamic_profile_bins(coord: np.ndarray, rel_error: float) -> list[int]:
    """utilities.dynamicProfileBins_v2 from reading it (its loop, its counts array)."""
    h = coord.astype(int)
    xmin, xmax = int(h.min()), int(h.max())
    min_pixels = max(1, 1 / rel_error / rel_error)
    values, counts = np.unique(h, return_counts=True)
    c = np.zeros(xmax - xmin + 1, dtype=int)
    c[values - xmin] = counts
    edges, integral = [xmin], 0
    for ind, x in enumerate(range(xmin, xmax)):
        if integral < min_pixels:
            integral += c[ind]
        else:
            edges.append(x)
            integral = 0
    edges.append(xmax)
    return [e - xmin for e in edges]


@pytest.mark.parametrize("rel_error", [0.2, 0.3])
def test_profile_edges_are_dynamic_profile_bins(rel_error):
    from cygno_mw.gpu.profile_fits import profile_edges

    rng = np.random.default_rng(int(rel_error * 10))
    for shift in (0.0, 37.2, -15.6):  # int() truncates towards 0 on both sides of 0
        coord = np.concatenate([rng.normal(20, 6, 400), rng.uniform(0, 60, 50)]) + shift
        expected = _dynamic_profile_bins(coord, rel_error)
        got = profile_edges(coord, max(1, 1 / rel_error / rel_error))
        assert got.tolist() == expected


def test_profile_contents_are_float32_fills_and_overflow_is_dropped():
    from cygno_mw.gpu.profile_fits import fill_profile

    edges = np.array([0.0, 3.0, 4.0, 9.0])
    x = np.array([0.0, 2.99, 3.0, 8.5, 9.0, 12.0])  # the last two: overflow
    z = np.array([0.1, 0.2, 1e8, 1.0, 5.0, 5.0])
    content, error = fill_profile(edges, x, z)
    assert content.dtype == np.float32
    assert content.tolist() == [np.float32(np.float32(0.1) + np.float32(0.2)),
                                np.float32(1e8), np.float32(1.0)]
    assert error == pytest.approx([math.sqrt(0.05), 1e8, 1.0])


def test_fit_limits_are_root_initgaus_ones():
    """Without option B, InitGaus replaces the start values and the sigma limits
    [0.5, 1.5] rms with [0, 10 rms of the bins]: a profile whose best sigma is 2 x the
    rms given is fitted there, as ROOT 6.40 fits it; an empty profile is 0, 0, 0, 999, -1."""
    from cygno_mw.gpu.profile_fits import fit_gaussians

    edges = np.arange(0.0, 61.0)
    centres = edges[:-1] + 0.5
    content = (200.0 * np.exp(-0.5 * ((centres - 30.0) / 6.0) ** 2)).astype(np.float32)
    error = np.sqrt(content.astype(np.float64)) + 1.0
    fitted = fit_gaussians([(edges, content, error, 30.0, 3.0),
                            (edges, np.zeros(60, np.float32), error, 30.0, 3.0)])
    amp, mean, sigma, chi2, status = fitted[0]
    assert (amp, mean, sigma) == pytest.approx((200.0, 30.0, 6.0), rel=1e-3)
    assert chi2 < 1e-3 and status == 3.0
    assert fitted[1].tolist() == [0.0, 0.0, 0.0, 999.0, -1.0]


def test_main_peak_is_the_last_find_peaks_peak():
    """clusterShapes: find_peaks(distance 6, height 3, prominence 2, width 2) on the bins
    with centres inside (0, last edge); the peak furthest along; widths in bins."""
    from scipy.signal import find_peaks

    from cygno_mw.gpu.profile_fits import NO_PEAK, main_peak

    edges = np.arange(0.0, 41.0)
    x = edges[:-1] + 0.5
    content = (10 * np.exp(-0.5 * ((x - 10) / 2) ** 2)
               + 6 * np.exp(-0.5 * ((x - 28) / 2.5) ** 2)).astype(np.float32)
    peaks, props = find_peaks(content.astype(float), distance=6, height=3, prominence=2,
                              width=2)
    assert len(peaks) == 2
    assert main_peak(edges, content) == (props["peak_heights"][1], props["prominences"][1],
                                         props["widths"][1], x[peaks[1]])
    assert main_peak(edges, content * 0.2) == (NO_PEAK,) * 4
