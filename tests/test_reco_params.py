"""RecoParams: LIME defaults, ODB-style coercion, and errors that name the key."""

from __future__ import annotations

import pytest

from cygno_mw.errors import ConfigError
from cygno_mw.gpu.params import LIME_SPARK_SUM, RecoParams


def test_defaults_are_the_lime_configuration():
    p = RecoParams()
    assert (p.cimax, p.nsigma, p.rebin, p.min_neighbors_average) == (5000, 0.6, 4, 1.2)
    assert (p.ymin, p.ymax, p.xmin, p.xmax) == (304, 2054, 0, 2304)
    assert (p.eps, p.min_samples) == (12.0, 20)
    assert (p.dir_radius, p.dir_min_accuracy, p.dir_thickness) == (28.0, 0.95, 6.5)
    assert (p.dir_minsamples, p.max_attempts, p.isolation_radius) == (12, 3, 5.0)
    assert p.spark_sum_threshold == LIME_SPARK_SUM == 2 * 100 * 2304**2 + 9_000_000
    assert p.backend == "auto"


def test_from_mapping_coerces_odb_values():
    p = RecoParams.from_mapping(
        {"nsigma": "0.8", "rebin": 2.0, "cimax": "4000", "directional": 0, "backend": "NumPy"}
    )
    assert p.nsigma == 0.8 and isinstance(p.rebin, int) and p.rebin == 2
    assert p.cimax == 4000 and p.directional is False and p.backend == "numpy"
    assert RecoParams.from_mapping({"directional": "yes"}).directional is True


def test_round_trip_through_a_mapping():
    p = RecoParams(nsigma=1.0, ymin=0, ymax=2304, backend="numpy")
    assert RecoParams.from_mapping(p.to_mapping()) == p


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"nsigma": "lots"}, "nsigma"),
        ({"rebin": 2.5}, "rebin"),
        ({"rebin": 0}, "rebin"),
        ({"eps": True}, "eps"),
        ({"ymax": 100}, "ymax"),
        ({"dir_min_accuracy": 1.5}, "dir_min_accuracy"),
        ({"backend": "opencl"}, "backend"),
        ({"directional": "maybe"}, "directional"),
        ({"min_samples": float("nan")}, "min_samples"),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        RecoParams.from_mapping(values)


def test_from_mapping_rejects_non_mappings():
    with pytest.raises(ConfigError):
        RecoParams.from_mapping([("nsigma", 1)])  # type: ignore[arg-type]


def test_vignette_map_keeps_a_path_as_written():
    assert RecoParams().vignette_map == "builtin"
    assert RecoParams.from_mapping({"vignette_map": " NONE "}).vignette_map == "none"
    path = "/data/LIME/NormMap_Runs03930.root"
    assert RecoParams.from_mapping({"vignette_map": path}).vignette_map == path
    for bad in ("", 3):
        with pytest.raises(ConfigError, match="'vignette_map'"):
            RecoParams.from_mapping({"vignette_map": bad})
