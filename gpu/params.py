"""Every knob of the camera reconstruction, with the LIME defaults, validated once.

The schema is what the ODB holds at /Analyzer/Parameters/Reco, so `from_mapping` takes the
loosely typed values an ODB gives back ("0.6", 1, True) and names the key on any error.
Defaults follow the experiment's LIME configuration (configFile_LNGS.txt,
modules_config/clustering.txt and geometry_lime.txt of CYGNUS-RD/reconstruction).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from cygno_mw.errors import ConfigError

BACKENDS = ("auto", "numpy", "cupy")
# vignette_map values that are not a file: the simulation's model, or no correction.
VIGNETTE_BUILTIN = "builtin"
VIGNETTE_NONE = "none"

# The experiment's spark test: a raw sum above 2*100*2304*2304 + 9e6 ADU.
LIME_SPARK_SUM = 2 * 100 * 2304 * 2304 + 9_000_000


@dataclass(frozen=True)
class RecoParams:
    """Parameters of steps 1-7; coordinates are full-resolution pixels (x = column, y = row).

    Window: rows ymin <= y < ymax and columns xmin <= x < xmax are kept.  `eps`, `dir_radius`,
    `dir_thickness` and `isolation_radius` are in macro-pixels (rebinned grid).
    """

    # 1. sparks and saturation
    spark_sum_threshold: float = float(LIME_SPARK_SUM)  # raw-sum above which a frame is skipped
    cimax: int = 5000  # raw pixels >= cimax are set to 0 before pedestal subtraction
    # 2. pedestal subtraction and zero suppression
    nsigma: float = 0.6
    # 3. acceptance window
    xmin: int = 0
    xmax: int = 2304
    ymin: int = 304
    ymax: int = 2054
    # 4. median filter and rebinning
    rebin: int = 4
    # 5. noise cleaning of the rebinned image
    clean_border: int = 2  # macro-pixels zeroed on each edge
    clean_outlier: float = 10.0  # |value - 8-neighbour mean| above this -> set to that mean
    min_neighbors_average: float = 1.2  # 8-neighbour mean below this -> zeroed
    clean_min_active: int = 3  # fewer non-zero macro-pixels in the 3x3 -> zeroed
    point_threshold: float = 0.5  # macro-pixels not above it are no clustering points
    # 6. DBSCAN seeding (cityblock metric, weight = macro-pixel value)
    eps: float = 12.0
    min_samples: int = 20
    # 6. directional regrowth of track-like seeds
    directional: bool = True
    dir_min_accuracy: float = 0.95
    dir_radius: float = 28.0
    dir_thickness: float = 6.5
    dir_minsamples: int = 12
    max_attempts: int = 3
    isolation_radius: float = 5.0
    # 7. sc_integral (vignetting-corrected): acceptance map "builtin", "none" or the path of a
    # ROOT file (TH2F normmap_lime); the analyzers load it, the Reconstructor takes the array.
    vignette_map: str = VIGNETTE_BUILTIN
    # execution
    backend: str = "auto"
    batch_size: int = 8

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _coerce(f.name, f.type, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        _check(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RecoParams:
        """Parameters from an ODB-like mapping; missing keys keep their default."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"reco parameters must be a mapping, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            raise ConfigError(
                f"unknown reco parameter(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**dict(values))

    def to_mapping(self) -> dict[str, Any]:
        """Plain-Python values, ready for the ODB or a JSON file."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RecoParams:
        """A copy with some values changed (validated again)."""
        return dataclasses.replace(self, **changes)


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _coerce(name: str, kind: str, value: Any) -> Any:
    """Turn an ODB value into the field's type or raise ConfigError naming the key."""
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"reco parameter {name!r}: expected a boolean, got {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"reco parameter {name!r}: expected a string, got {value!r}")
        text = value.strip()
        if name == "vignette_map" and text.lower() not in (VIGNETTE_BUILTIN, VIGNETTE_NONE):
            return text  # a path: keep its case
        return text.lower()
    if isinstance(value, bool):
        raise ConfigError(f"reco parameter {name!r}: expected a number, got {value!r}")
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigError(f"reco parameter {name!r}: not a number: {value!r}") from None
    if not isinstance(number, int | float) or not math.isfinite(float(number)):
        raise ConfigError(f"reco parameter {name!r}: expected a finite number, got {value!r}")
    if kind == "int":
        if float(number) != int(number):
            raise ConfigError(f"reco parameter {name!r}: expected an integer, got {value!r}")
        return int(number)
    return float(number)


def _check(p: RecoParams) -> None:
    """Range checks; each message names the offending key."""

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"reco parameter {key!r} = {getattr(p, key)!r}: {what}")

    need(p.spark_sum_threshold >= 0, "spark_sum_threshold", "must be >= 0 (0 disables)")
    need(p.cimax > 0, "cimax", "must be > 0")
    need(p.nsigma >= 0, "nsigma", "must be >= 0")
    need(p.xmin >= 0, "xmin", "must be >= 0")
    need(p.ymin >= 0, "ymin", "must be >= 0")
    need(p.xmax > p.xmin, "xmax", f"must be > xmin ({p.xmin})")
    need(p.ymax > p.ymin, "ymax", f"must be > ymin ({p.ymin})")
    need(p.rebin >= 1, "rebin", "must be >= 1")
    need(p.clean_border >= 1, "clean_border", "must be >= 1")
    need(p.clean_outlier >= 0, "clean_outlier", "must be >= 0")
    need(p.min_neighbors_average >= 0, "min_neighbors_average", "must be >= 0")
    need(0 <= p.clean_min_active <= 9, "clean_min_active", "must be within 0..9")
    need(p.point_threshold >= 0, "point_threshold", "must be >= 0")
    need(1 <= p.eps <= 200, "eps", "must be within 1..200 macro-pixels")
    need(p.min_samples > 0, "min_samples", "must be > 0")
    need(0 <= p.dir_min_accuracy <= 1, "dir_min_accuracy", "must be within 0..1")
    need(p.dir_radius > 0, "dir_radius", "must be > 0")
    need(p.dir_thickness > 0, "dir_thickness", "must be > 0")
    need(p.dir_minsamples >= 1, "dir_minsamples", "must be >= 1")
    need(0 <= p.max_attempts <= 100, "max_attempts", "must be within 0..100")
    need(p.isolation_radius >= 0, "isolation_radius", "must be >= 0")
    need(p.vignette_map != "", "vignette_map", "must be 'builtin', 'none' or a ROOT file path")
    need(p.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}")
    need(1 <= p.batch_size <= 256, "batch_size", "must be within 1..256")
