"""Is a run fit to be a pedestal run?  Its images must hold no clusters.

The reconstruction runs on the run's last image with the maps made from the run itself.
A signal stands out even from maps that include it: in one image of N it lies about
(N-1)/N of its height above the mean, while it widens that pixel's sigma only to about
1/sqrt(N) of its height (0.58 for N = 3), and zero suppression keeps pixels above 0.6
sigma.  On the simulation, pedestal runs of 2 to 10 images give 0 clusters and physics
runs 1 to 9.
"""

from __future__ import annotations

import numpy as np

from cygno_mw.analyzers.reco_engine import vignette_for
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps


def clusters_in(reco: RecoParams, maps: PedestalMaps, image: np.ndarray) -> int:
    """How many clusters the reconstruction finds in `image` with `maps`."""
    from cygno_mw.gpu.pipeline import Reconstructor

    reconstructor = Reconstructor(reco, maps, vignette_for(reco.vignette_map, maps.shape))
    return reconstructor.process(np.asarray(image).reshape(maps.shape)).n_clusters
