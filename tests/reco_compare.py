"""Comparison of a GPU reconstruction with the CPU's (gpu tests and the CuPy emulation)."""

from __future__ import annotations

import numpy as np
import pytest


def assert_same_reconstruction(ours, ref):
    """Same points, same clusters up to a relabelling, variables within float32 rounding."""
    assert ours.backend == "cupy" and ref.backend == "numpy"
    assert ours.skipped == ref.skipped
    assert ours.n_clusters == ref.n_clusters
    for name in ("cmos_integral", "cmos_mean", "cmos_rms", "raw_mean"):
        assert ours.image[name] == pytest.approx(ref.image[name], rel=1e-5), name
    if ref.skipped:  # spark or flash: no clusters, no hits
        assert ours.hits == ref.hits == {}
        return
    for key in ("row", "col"):
        np.testing.assert_array_equal(ours.hits[key], ref.hits[key])
    np.testing.assert_array_equal(ours.hits["value"], ref.hits["value"])  # bit-exact
    pairs = set(zip(ref.hits["cluster"].tolist(), ours.hits["cluster"].tolist(), strict=True))
    mapping = dict(pairs)
    assert len(mapping) == len(pairs) == len(set(mapping.values())), "not a relabelling"
    assert sorted(mapping) == list(range(ref.n_clusters))
    order = np.array([mapping[k] for k in range(ref.n_clusters)], dtype=int)
    for name, values in ref.clusters.items():
        np.testing.assert_allclose(ours.clusters[name][order], values, rtol=1e-6, atol=1e-6,
                                   equal_nan=True, err_msg=name)
    for name in ("n_points", "n_core", "n_seed_clusters", "n_tracks", "nclusters"):
        assert ours.image[name] == ref.image[name], name
