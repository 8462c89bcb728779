"""The reco columns mean what the experiment's tree means (issue 13), one convention a test.

Hand-made frames with known answers: a spot of known light in a known corner, under a
vignetting map that is neither left-right nor up-down symmetric; every expectation is
recomputed here from the hits the way the experiment's code defines it (its frame: X = row,
Y = last column - column; light z = (raw - pedestal) / acceptance).  Then the seven real LIME
clusters, put back where the experiment's frame says they were, come out at its coordinates.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cygno_mw.gpu.cluster_variables import SATURATION_POLY, image_frame
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor
from cygno_mw.gpu.reference_cpu import reference_reconstructor

SHAPE = (384, 384)
LAST = SHAPE[1] - 1
PEDESTAL = 100.0
PARAMS = RecoParams(ymin=0, ymax=SHAPE[0], xmin=0, xmax=SHAPE[1], backend="numpy")


def _maps() -> PedestalMaps:
    return PedestalMaps(np.full(SHAPE, PEDESTAL), np.full(SHAPE, 2.0), 50)


def _acceptance() -> np.ndarray:
    """Not symmetric either way: 0.4 on the left third, rising with the row elsewhere."""
    rows = np.arange(SHAPE[0], dtype=np.float32)[:, None]
    acc = np.broadcast_to(0.5 + 0.5 * rows / SHAPE[0], SHAPE).astype(np.float32).copy()
    acc[:, : SHAPE[1] // 3] = 0.4
    return acc


def _spot(col: float, row: float, light: float, sigma: float = 2.5) -> np.ndarray:
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    img = light / (2 * math.pi * sigma**2) * np.exp(-((xx - col) ** 2 + (yy - row) ** 2)
                                                   / (2 * sigma**2))
    return np.clip(np.rint(PEDESTAL + img), 0, 65535).astype(np.uint16)


def _hits(result, frame: np.ndarray, acceptance: np.ndarray | None, k: int = 0,
          r: int = PARAMS.rebin):
    """Full-resolution hits (row, col, v, z) of cluster k: its macro-pixels' pixels."""
    mine = result.hits["cluster"] == k
    rows = (result.hits["row"][mine][:, None] * r + np.arange(r)[None, :]).astype(int)
    cols = (result.hits["col"][mine][:, None] * r + np.arange(r)[None, :]).astype(int)
    rr = np.repeat(rows, r, axis=1).ravel()
    cc = np.tile(cols, (1, r)).ravel()
    v = frame[rr, cc].astype(np.float64) - PEDESTAL
    z = v if acceptance is None else v / acceptance[rr, cc].astype(np.float64)
    return rr, cc, v, z


@pytest.fixture(scope="module")
def corner_spot():
    """5000 ADU at column 40, row 300: left third (acceptance 0.4), bottom-left corner."""
    frame = _spot(40.3, 300.6, 5000.0)
    acceptance = _acceptance()
    result = Reconstructor(PARAMS, _maps(), vignette=acceptance).process(frame)
    assert result.n_clusters == 1
    return frame, acceptance, result


def test_frame_is_the_experiments_mirrored_one(corner_spot):
    frame, acceptance, result = corner_spot
    c = {k: v[0] for k, v in result.clusters.items()}
    rr, cc, _, _ = _hits(result, frame, acceptance)
    assert c["sc_xmean"] == pytest.approx(300.6, abs=0.3)  # X: the row
    assert c["sc_ymean"] == pytest.approx(LAST - 40.3, abs=0.3)  # Y: last column - column
    assert (c["sc_xmin"], c["sc_xmax"]) == (rr.min(), rr.max())
    assert (c["sc_ymin"], c["sc_ymax"]) == (LAST - cc.max(), LAST - cc.min())
    back = image_frame(result.clusters, SHAPE[1])
    assert back["col_mean"][0] == pytest.approx(40.3, abs=0.3)
    assert back["row_min"][0] == rr.min() and back["col_max"][0] == cc.max()


def test_integral_is_the_vignetting_corrected_light(corner_spot):
    frame, acceptance, result = corner_spot
    c = {k: v[0] for k, v in result.clusters.items()}
    _, _, v, z = _hits(result, frame, acceptance)
    assert c["sc_rawintegral"] == pytest.approx(v.sum(), rel=1e-9)
    assert c["sc_rawintegral"] == pytest.approx(5000.0, rel=0.01)
    assert c["sc_integral"] == pytest.approx(z.sum(), rel=1e-6)
    assert c["sc_integral"] == pytest.approx(5000.0 / 0.4, rel=0.01)  # left third: 0.4
    assert c["sc_rms"] == pytest.approx(z.std(), rel=1e-6)


def test_corrintegral_is_the_experiments_saturation_polynomial(corner_spot):
    frame, acceptance, result = corner_spot
    _, _, _, z = _hits(result, frame, acceptance)
    a, b, c0 = SATURATION_POLY
    # the experiment's constants: a0 e / (pixel area * yield * solid angle), 1 - 2 a0 sigma0, ...
    assert a == pytest.approx(0.1855 * 1.60217662e-7 / (0.015625 * 0.08 * 0.00018))
    assert b == pytest.approx(1 - 2 * 0.1855 * 2.5)
    expected = np.sum(a * z * z + b * z + c0)
    assert result.clusters["sc_corrintegral"][0] == pytest.approx(expected, rel=1e-6)


def test_centroid_is_weighted_by_the_corrected_light():
    """A spot across the acceptance's row gradient: the corrected weights pull it down."""
    rows = np.arange(SHAPE[0], dtype=np.float32)[:, None]
    acceptance = np.broadcast_to(np.exp((rows - LAST) / 60.0), SHAPE)
    acceptance = np.ascontiguousarray(acceptance, dtype=np.float32)
    frame = _spot(250.0, 300.0, 20000.0, sigma=6.0)
    result = Reconstructor(PARAMS, _maps(), vignette=acceptance).process(frame)
    assert result.n_clusters == 1
    rr, cc, v, z = _hits(result, frame, acceptance)
    w = np.maximum(z, 0.0)
    x_corrected = np.sum(w * rr) / w.sum()
    x_raw = np.sum(np.maximum(v, 0.0) * rr) / np.maximum(v, 0.0).sum()
    c = result.clusters
    assert c["sc_xmean"][0] == pytest.approx(x_corrected, abs=1e-6)
    assert c["sc_ymean"][0] == pytest.approx(LAST - np.sum(w * cc) / w.sum(), abs=1e-6)
    assert x_raw - x_corrected > 0.3  # the two weightings are told apart


def test_theta_is_the_experiments_unsorted_eigenvector_and_theta_major_the_axis():
    angle = math.radians(30.0)  # image: from +column towards +row
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    s = np.arange(-120, 120.1, 0.5)
    img = np.zeros(SHAPE)
    for t in s:
        x, y = 190 + t * math.cos(angle), 190 + t * math.sin(angle)
        img += 30.0 / (2 * math.pi * 2.5**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 12.5)
    frame = np.clip(np.rint(PEDESTAL + img), 0, 65535).astype(np.uint16)
    result = Reconstructor(PARAMS, _maps()).process(frame)
    assert result.n_clusters == 1
    # the experiment: covariance of the macro-pixel indices in its frame, first eigenvector
    macro_x = result.hits["row"].astype(float)
    macro_y = SHAPE[1] // PARAMS.rebin - 1 - result.hits["col"].astype(float)
    _, vectors = np.linalg.eig(np.cov(np.array([macro_x, macro_y])))
    expected = np.degrees(np.arctan2(*vectors[:, 0][::-1]))
    assert result.clusters["sc_theta"][0] == pytest.approx(expected, abs=1e-9)
    # ours: the major axis, (cos, sin) along (column, row) = (sin, -cos) along (X, Y)
    assert result.clusters["sc_theta_major"][0] == pytest.approx(30.0 - 90.0, abs=0.5)
    assert result.clusters["sc_xycorr"][0] < -0.8  # X grows as Y falls along this track


def test_the_three_paths_agree_on_the_new_columns(corner_spot):
    """Compiled CPU == array reference, bit for bit, with an asymmetric map."""
    frame, acceptance, result = corner_spot
    ref = reference_reconstructor(PARAMS, _maps(), acceptance).process(frame)
    for name, values in result.clusters.items():
        np.testing.assert_array_equal(values.view(np.uint64), ref.clusters[name].view(np.uint64),
                                      err_msg=name)


def test_vignetting_histogram_is_applied_in_the_experiments_orientation(tmp_path: Path):
    """Histogram x runs along the mirrored column (the experiment's Y), y along the row."""
    uproot = pytest.importorskip("uproot")
    from cygno_mw.vignetting import load_vignette_map

    counts = np.ones((8, 8))  # [x bin, y bin]
    counts[0, :] = 0.5  # lowest x bins
    counts[:, 7] = 0.25  # highest y bins
    edges = np.linspace(0, 64, 9)
    path = tmp_path / "vig.root"
    with uproot.recreate(path) as out:
        out["normmap_lime"] = (counts, edges, edges)
    acc = load_vignette_map(path, (64, 64))
    assert acc[20, 63] == pytest.approx(0.5)  # lowest x bin: the last image columns
    assert acc[20, 0] == pytest.approx(1.0)
    assert acc[63, 30] == pytest.approx(0.25)  # highest y bin: the last image rows


def test_lime_map_is_radial_so_its_orientation_changes_at_most_one_percent(shared_data):
    uproot = pytest.importorskip("uproot")
    with uproot.open(shared_data / "vignette_lime_runs03930to03932.root") as f:
        values = f["normmap_lime"].values()
    assert np.array_equal(values, values.T)
    mirrored = np.abs(values - values[::-1, :])
    assert mirrored.max() < 0.0100 and mirrored.mean() < 0.003
    # a radial profile about a centre half a bin off: bin k mirrors bin 287 - k
    assert np.array_equal(values[1:, :], values[1:, :][::-1, :])


def test_real_clusters_come_out_at_the_experiments_coordinates(shared_data):
    """The seven real LIME clusters (hits in the experiment's frame: X, Y, light) placed
    back at image row X, column 2303 - Y: every cluster's sc_xmean/sc_ymean/extents are
    those of the real hits it holds, in the real hits' own X and Y."""
    files = sorted((shared_data / "pixels").glob("sclu_*.npy"))
    assert len(files) == 7
    shape = (2304, 2304)
    raw = np.full(shape, PEDESTAL)
    owner = np.full(shape, -1)
    their_x, their_y = np.zeros(shape), np.zeros(shape)
    for index, path in enumerate(files):
        hits = np.load(path)
        x, y = hits[:, 0].astype(int), hits[:, 1].astype(int)
        raw[x, 2303 - y] += np.rint(hits[:, 2])
        owner[x, 2303 - y] = index
        their_x[x, 2303 - y], their_y[x, 2303 - y] = x, y
    frame = raw.astype(np.uint16)
    maps = PedestalMaps(np.full(shape, PEDESTAL), np.full(shape, 2.0), 50)
    # the real hits were taken without the LIME row window (some lie in rows < 304)
    params = RecoParams(backend="numpy", ymin=0, ymax=2304)
    result = Reconstructor(params, maps).process(frame)
    c, rebin = result.clusters, params.rebin
    found, light = set(), 0.0
    for k in range(result.n_clusters):
        rr, cc, v, _ = _hits(result, frame, None, k, rebin)
        real = owner[rr, cc] >= 0
        found |= set(owner[rr, cc][real].tolist())
        w = np.maximum(v, 0.0)  # zero off the real hits
        x, y = their_x[rr, cc][real], their_y[rr, cc][real]
        assert c["sc_xmean"][k] == pytest.approx(np.sum(w[real] * x) / w.sum(), abs=1e-6)
        assert c["sc_ymean"][k] == pytest.approx(np.sum(w[real] * y) / w.sum(), abs=1e-6)
        # extents: of the cluster's macro-pixels, which hold these real hits
        assert (c["sc_xmin"][k], c["sc_xmax"][k]) == (rr.min(), rr.max())
        assert (c["sc_ymin"][k], c["sc_ymax"][k]) == (2303 - cc.max(), 2303 - cc.min())
        assert c["sc_xmin"][k] <= x.min() and x.max() <= c["sc_xmax"][k]
        assert c["sc_ymin"][k] <= y.min() and y.max() <= c["sc_ymax"][k]
        light += c["sc_integral"][k]
    assert len(found) >= 6
    assert light > 0.5 * (raw - PEDESTAL).sum()


def test_migration_0004_keeps_what_still_means_the_same(sql_url: str) -> None:
    """Rows of a pass written before 0004: renamed where the meaning is kept, theta turned
    into the new frame, the rest NULL (see the migration's docstring)."""
    import sqlalchemy as sa

    from cygno_mw.analyzers.outputs import migrate
    from cygno_mw.analyzers.outputs.database import create_db_engine

    engine = create_db_engine(sql_url)
    try:
        migrate.upgrade(engine, "0003")
        with engine.begin() as conn:
            for cluster, theta in enumerate((30.0, -30.0, 90.0)):
                conn.execute(sa.text(
                    "INSERT INTO reco (pass_name, run, camera, event, cluster, sc_integral, "
                    "sc_corrintegral, sc_theta, sc_xmean, sc_length, sc_pearson) "
                    "VALUES ('old', 1, 0, 0, :c, 10, 20, :t, 5, 7, 0.5)"),
                    {"c": cluster, "t": theta})
        migrate.upgrade(engine, "0004")  # 0007 brings three of those names back (issue 23)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT sc_rawintegral, sc_integral, sc_corrintegral, sc_theta, "
                "sc_theta_major, sc_xmean, sc_length, sc_xycorr FROM reco ORDER BY cluster"
            )).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("reco")}
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (10.0, 20.0, None, None, -60.0, None, 7.0, None),
        (10.0, 20.0, None, None, 60.0, None, 7.0, None),
        (10.0, 20.0, None, None, 0.0, None, 7.0, None),
    ]
    assert not columns & {"sc_pearson", "sc_longrms", "sc_latrms", "sc_lgausssigma"}
