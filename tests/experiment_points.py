"""Run the experiment's camera steps 1-5 as its code runs them, on frames dumped by
tests/test_reco_vs_experiment.py; run by a Python with ROOT (cameraChannel imports it),
scipy, and Cython < 3 with NumPy < 2 (its cython_cygno.pyx uses np.int_t).

    python experiment_points.py DUMP.npz EXPERIMENT_SRC OUT.npz

Its order (reconstruction.py, snakes.SnakesFactory.getClusters): the frame in its frame
(np.fliplr of the DAQ array, done by the caller), cimax, pedestal subtraction, zero
suppression, acceptance, scipy median_filter(size=2), cameraTools.arrrebin, nred_cython, and
the clustering points np.nonzero(np.round(...)).
"""

from __future__ import annotations

import os
import sys

import numpy as np


def main() -> None:
    dump, src, out = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
    os.chdir(src)
    sys.path.insert(0, src)
    import pyximport

    pyximport.install(setup_args={"include_dirs": np.get_include()}, language_level=3)
    from cameraChannel import cameraGeometry, cameraTools
    from cython_cygno import nred_cython
    from scipy.ndimage import median_filter

    d = np.load(dump)
    # its geometry file is a Python dict literal with arithmetic, read as it reads it
    with open("modules_config/geometry_lime.txt") as f:
        geometry = cameraGeometry(eval(f.read()))
    ct = cameraTools(geometry)
    rebin, rescale = int(d["rebin"]), int(geometry.npixx / int(d["rebin"]))
    points = {}
    for i in range(int(d["n"])):
        img_fr = d[f"frame{i}"].astype(np.float64)
        img_cimax = np.where(img_fr < float(d["cimax"]), img_fr, 0)
        zs = ct.zsfullres(ct.pedsub(img_cimax, d["ped"]), d["noise"], nsigma=float(d["nsigma"]))
        zs = ct.acceptance(zs, geometry.ymin, geometry.ymax, geometry.xmin, geometry.xmax)
        edges = ct.arrrebin(median_filter(zs, size=2), rebin)
        tight = nred_cython(edges.copy(), rescale, float(d["min_neighbors_average"]))
        points[f"points{i}"] = np.array(np.nonzero(np.round(tight))).astype(int).T
    np.savez(out, **points)


if __name__ == "__main__":
    main()
