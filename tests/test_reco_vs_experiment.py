"""Our cluster columns against the experiment's unmodified code, on identical pixel sets.

The seven real LIME clusters (../shared/data/cygno/pixels) are put on a LIME frame where the
experiment's frame says they were, reconstructed here with the measured vignetting map; then
the experiment's clusterTools.Cluster (CYGNUS-RD/reconstruction, which needs ROOT) gets our
clusters' macro-pixels and the same light image in its frame, and every same-name column is
compared; and the experiment's steps 1-5 give the clustering the same macro-pixels.  Needs a
Python with ROOT (`CYGNO_ROOT_PYTHON`: e.g. a venv with PyPI's `root`, scipy, uproot, and
for its cython_cygno.pyx Cython < 3 with NumPy < 2) and the experiment's sources
(`CYGNO_EXPERIMENT_SRC`); skipped without.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# declared tolerance per column (relative): bit-level arithmetic everywhere but the fits,
# whose minimum Minuit reaches only to its EDM tolerance (README "Checked against ...")
EXACT = 1e-9
FIT_MEDIAN = 1e-3
CHI2 = 1e-5


def _experiment() -> tuple[str, str]:
    python, src = os.environ.get("CYGNO_ROOT_PYTHON"), os.environ.get("CYGNO_EXPERIMENT_SRC")
    if not python or not src or not Path(src, "clusterTools.py").exists():
        pytest.skip("needs CYGNO_ROOT_PYTHON (a Python with ROOT) and CYGNO_EXPERIMENT_SRC "
                    "(CYGNUS-RD/reconstruction sources)")
    return python, src


def test_same_name_columns_equal_the_experiments(shared_data, tmp_path):
    python, src = _experiment()
    from cygno_mw.gpu.params import RecoParams
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor
    from cygno_mw.gpu.zero_suppression import threshold_map
    from cygno_mw.vignetting import load_vignette_map

    shape, pedestal = (2304, 2304), 100.0
    raw = np.full(shape, pedestal)
    for path in sorted((shared_data / "pixels").glob("sclu_*.npy")):
        hits = np.load(path)  # X, Y, light in the experiment's frame
        raw[hits[:, 0].astype(int), 2303 - hits[:, 1].astype(int)] += np.rint(hits[:, 2])
    raw += np.random.default_rng(7).normal(0, 2.0, shape)
    frame = np.clip(np.rint(raw), 0, 65535).astype(np.uint16)
    params = RecoParams(backend="numpy")
    noise = np.full(shape, 2.0, np.float32)
    maps = PedestalMaps(np.full(shape, pedestal), noise, 50)
    vignette = load_vignette_map(shared_data / "vignette_lime_runs03930to03932.root")
    result = Reconstructor(params, maps, vignette).process(frame)
    assert result.n_clusters >= 4

    # the light as the experiment's Cluster reads it: img_fr and img_fr_zs, vignetted, its frame
    value = np.where(frame < params.cimax, frame.astype(np.float32), np.float32(0))
    value = value - maps.mean.astype(np.float32)
    z = (value / vignette).astype(np.float64)
    zs = np.where((value > threshold_map(noise, params)) & (value > 0), z, 0.0)
    m = shape[1] // params.rebin
    dump = {"img": np.fliplr(z), "imgzs": np.fliplr(zs), "n": result.n_clusters,
            "rebin": params.rebin}
    for k in range(result.n_clusters):
        mine = result.hits["cluster"] == k
        dump[f"macro{k}"] = np.stack(
            (result.hits["row"][mine], m - 1 - result.hits["col"][mine]), axis=1
        ).astype(np.int64)
    np.savez(tmp_path / "dump.npz", **dump)
    driver = Path(__file__).with_name("experiment_clusters.py")
    subprocess.run([python, str(driver), str(tmp_path / "dump.npz"), src,
                    str(tmp_path / "theirs.json")], check=True, timeout=600,
                   capture_output=True)
    theirs = json.loads((tmp_path / "theirs.json").read_text())

    fits = {f"sc_{d}gauss{p}" for d in "lt" for p in ("amp", "mean", "sigma")}
    for name in theirs[0]:
        want = np.array([row[name] for row in theirs])
        got = result.clusters[name]
        rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
        print(f"{name}: median rel {np.median(rel):.1e}, max {rel.max():.1e}", file=sys.stderr)
        if name in fits:
            assert np.median(rel) < FIT_MEDIAN, name
        elif name in ("sc_lchi2", "sc_tchi2"):
            assert rel.max() < CHI2, name
        else:
            assert rel.max() < EXACT, name


def test_clustering_points_equal_the_experiments(shared_data, tmp_path):
    """Steps 1-5 (zero suppression, 2x2 median, rebin, noise cleaning) end to end: the
    macro-pixels handed to the clustering equal the experiment's, each frame fed to it as a
    real run feeds it (np.fliplr of the DAQ array).  Simulated LIME frames and the real
    clusters on the simulated sensor's noise."""
    python, src = _experiment()
    from cygno_mw.gpu.params import RecoParams
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor
    from cygno_mw.simulation.camera import CameraSimulator
    from cygno_mw.simulation.sensor import SensorModel
    from cygno_mw.simulation.signals import SignalMix

    sensor = SensorModel.generate(seed=42)
    sim = CameraSimulator(sensor, mix=SignalMix(), seed=7)
    frames = [sim.image()[0] for _ in range(2)]
    raw = sensor.pedestal + np.random.default_rng(5).normal(0, 1, sensor.pedestal.shape) * (
        sensor.noise)
    for path in sorted((shared_data / "pixels").glob("sclu_*.npy")):
        hits = np.load(path)
        raw[hits[:, 0].astype(int), 2303 - hits[:, 1].astype(int)] += np.rint(hits[:, 2])
    frames.append(np.clip(np.rint(raw), 0, 65535).astype(np.uint16))
    params = RecoParams(backend="numpy")
    maps = PedestalMaps(sensor.pedestal, sensor.noise, 200)
    dump = {"ped": np.fliplr(maps.mean.astype(np.float64)),
            "noise": np.fliplr(maps.sigma.astype(np.float64)), "n": len(frames),
            "rebin": params.rebin, "cimax": params.cimax, "nsigma": params.nsigma,
            "min_neighbors_average": params.min_neighbors_average}
    for i, frame in enumerate(frames):
        dump[f"frame{i}"] = np.fliplr(frame)
    np.savez(tmp_path / "frames.npz", **dump)
    driver = Path(__file__).with_name("experiment_points.py")
    subprocess.run([python, str(driver), str(tmp_path / "frames.npz"), src,
                    str(tmp_path / "points.npz")], check=True, timeout=600, capture_output=True)
    theirs = np.load(tmp_path / "points.npz")
    reco = Reconstructor(params, maps)
    last = sensor.pedestal.shape[1] // params.rebin - 1  # the mirrored macro column
    for i, frame in enumerate(frames):
        clean = reco._frames.run(frame).cleaned
        r, c = np.nonzero(clean > params.point_threshold)
        ours = set(zip(r.tolist(), (last - c).tolist(), strict=True))
        assert ours == set(map(tuple, theirs[f"points{i}"].tolist())), i
        assert len(ours) > 1000

