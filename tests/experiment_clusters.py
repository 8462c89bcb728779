"""Run the experiment's unmodified clusterTools.Cluster on clusters dumped by
tests/test_reco_vs_experiment.py; run by a Python that has ROOT (not the project's).

    python experiment_clusters.py DUMP.npz EXPERIMENT_SRC OUT.json

EXPERIMENT_SRC: a checkout of CYGNUS-RD/reconstruction (d03a058).  Its modules are imported
as they are; two imports that Cluster does not use (swiftlib, matplotlib) get empty stand-ins
when absent.
"""

from __future__ import annotations

import json
import os
import sys
import types

import numpy as np

# the experiment's shapes / methods -> our column names
NAMES = {
    "integral": "sc_integral", "size": "sc_size", "nhits": "sc_nhits", "rms": "sc_rms",
    "theta": "sc_theta", "long_width": "sc_length", "lat_width": "sc_width",
    "longrms": "sc_longrms", "latrms": "sc_latrms", "long_fullrms": "sc_lfullrms",
    "lat_fullrms": "sc_tfullrms", "xmean": "sc_xmean", "ymean": "sc_ymean",
    "xmin": "sc_xmin", "xmax": "sc_xmax", "ymin": "sc_ymin", "ymax": "sc_ymax",
    "lgaussamp": "sc_lgaussamp", "lgaussmean": "sc_lgaussmean",
    "lgausssigma": "sc_lgausssigma", "lchi2": "sc_lchi2", "lstatus": "sc_lstatus",
    "tgaussamp": "sc_tgaussamp", "tgaussmean": "sc_tgaussmean",
    "tgausssigma": "sc_tgausssigma", "tchi2": "sc_tchi2", "tstatus": "sc_tstatus",
    "long_p0amplitude": "sc_lp0amplitude", "long_p0prominence": "sc_lp0prominence",
    "long_p0fwhm": "sc_lp0fwhm", "long_p0mean": "sc_lp0mean", "lat_p0fwhm": "sc_tp0fwhm",
}


def main() -> None:
    dump, src, out = sys.argv[1:4]
    dump = os.path.abspath(dump)
    out = os.path.abspath(out)
    sys.path.insert(0, src)
    os.chdir(src)  # Cluster reads modules_config/geometry_<det>.txt
    for name in ("swiftlib", "matplotlib", "matplotlib.pyplot"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    from clusterTools import Cluster

    d = np.load(dump)
    rows = []
    for k in range(int(d["n"])):
        xy = np.unique(d[f"macro{k}"], axis=0)
        cl = Cluster(xy, int(d["rebin"]), d["img"], d["imgzs"], "lime")
        cl.iteration = 0  # as snakes.py sets it
        cl.calcProfiles()
        shapes = dict(cl.shapes)
        shapes.update(integral=cl.integral(), size=cl.size(), nhits=cl.sizeActive(),
                      rms=cl.rms())
        rows.append({ours: float(shapes[theirs]) for theirs, ours in NAMES.items()})
    with open(out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
