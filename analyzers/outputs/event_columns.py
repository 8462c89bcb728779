"""One image's reconstruction output as pending `reco`/`macro` rows, and a batch of them as
NumPy columns.

Kept apart from the writer so that the checks on a result (cluster variables present,
numeric, one length, integer counts) and the column building can be read and changed
without the buffering and transaction logic around them. Whole columns are built at flush
time, never row by row in Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import schema
from .batch import Columns, to_utc_naive
from .errors import OutputError

_INT_CLUSTER_INDEX = [schema.CLUSTER_VARIABLES.index(v) for v in schema.CLUSTER_INT_VARIABLES]
_MACRO_FLOATS = ("cmos_integral", "cmos_mean", "cmos_rms", "pedestal_mean", "pedestal_rms",
                 "noise_mean", "processing_time_s")


@dataclass
class PendingEvent:
    """One image's rows waiting for the next flush."""

    clusters: np.ndarray  # (19, n) float64, rows in schema.CLUSTER_VARIABLES order
    nclusters: int
    time: Any
    floats: tuple[float, ...]  # _MACRO_FLOATS order
    backend: str | None
    timings: str | None


def pending_event(result: Any, *, time: Any, backend: str | None,
                  pedestal_mean: float | None, pedestal_rms: float | None,
                  noise_mean: float | None) -> PendingEvent:
    """Check and copy one result (`clusters`, `image`, optionally `timings`: a mapping or
    attributes); what `image` says wins over the keyword arguments."""
    clusters = _part(result, "clusters")
    if not isinstance(clusters, Mapping):
        raise OutputError("result has no 'clusters' mapping of cluster variables")
    image = _part(result, "image") or {}
    block = cluster_block(clusters)
    timings = _part(result, "timings") or image.get("timings") or {}
    total = timings.get("total") if timings else None
    if total is None and timings:
        total = sum(float(v) for v in timings.values())
    floats = (
        _float_or_nan(image.get("cmos_integral")), _float_or_nan(image.get("cmos_mean")),
        _float_or_nan(image.get("cmos_rms")),
        _float_or_nan(image.get("pedestal_mean", pedestal_mean)),
        _float_or_nan(image.get("pedestal_rms", pedestal_rms)),
        _float_or_nan(image.get("noise_mean", noise_mean)), _float_or_nan(total),
    )
    return PendingEvent(
        clusters=block, nclusters=int(image.get("nclusters", block.shape[1])),
        time=to_utc_naive(time if time is not None else image.get("time")),
        floats=floats, backend=backend or image.get("backend"),
        timings=json.dumps({k: float(v) for k, v in timings.items()}) if timings else None,
    )


def _part(result: Any, name: str) -> Any:
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


def _float_or_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def cluster_block(clusters: Mapping[str, Any]) -> np.ndarray:
    """The cluster variables as one (19, n) float64 block, rows in CLUSTER_VARIABLES order.

    One C-level copy per image (so the caller may reuse its arrays); counts are rounded to
    integers. Called per image: the checks cost nothing unless something is wrong."""
    try:
        arrays = [clusters[name] for name in schema.CLUSTER_VARIABLES]
    except KeyError:
        missing = [v for v in schema.CLUSTER_VARIABLES if v not in clusters]
        raise OutputError(f"clusters lack the variables {missing}") from None
    try:
        block = np.array(arrays, dtype=np.float64)
    except (ValueError, TypeError):
        block = None
    if block is None or block.ndim != 2:
        _explain_bad_clusters(arrays)
        raise OutputError("cluster variables are not numeric 1-D arrays of one length")
    for index in _INT_CLUSTER_INDEX:
        if getattr(arrays[index], "dtype", np.dtype(float)).kind not in "iub":
            counts = block[index]
            if not np.isfinite(counts).all():
                raise OutputError(f"cluster variable {schema.CLUSTER_VARIABLES[index]} has "
                                  "NaN or inf values")
            np.rint(counts, out=counts)
    return block


def _explain_bad_clusters(arrays: list[Any]) -> None:
    length = len(arrays[0]) if np.ndim(arrays[0]) == 1 else -1
    for name, values in zip(schema.CLUSTER_VARIABLES, arrays, strict=True):
        if np.ndim(values) != 1:
            raise OutputError(f"cluster variable {name} must be 1-D, got shape "
                              f"{np.shape(values)}")
        if len(values) != length:
            raise OutputError(f"cluster variable {name} has {len(values)} values, "
                              f"expected {length}")


def event_columns(keys: list[tuple[int, int, int]],
                  entries: list[PendingEvent]) -> dict[str, Columns]:
    """Per-event pieces -> one column per table column (reco and macro)."""
    key_array = np.array(keys, dtype=np.int64).reshape(-1, 3)
    runs, cameras, events = key_array[:, 0], key_array[:, 1], key_array[:, 2]
    counts = np.fromiter((e.clusters.shape[1] for e in entries), dtype=np.int64,
                         count=len(entries))
    starts = np.cumsum(counts) - counts
    total = int(counts.sum())
    reco: Columns = {
        "run": np.repeat(runs, counts), "camera": np.repeat(cameras, counts),
        "event": np.repeat(events, counts),
        "cluster": np.arange(total, dtype=np.int64) - np.repeat(starts, counts),
    }
    values = np.concatenate([e.clusters for e in entries], axis=1)
    for index, name in enumerate(schema.CLUSTER_VARIABLES):
        column = values[index]
        reco[name] = column.astype(np.int64) if index in _INT_CLUSTER_INDEX else column
    floats = np.array([e.floats for e in entries], dtype=np.float64).reshape(-1, 7)
    macro: Columns = {
        "run": runs, "camera": cameras, "event": events,
        "time": np.array([e.time for e in entries], dtype="datetime64[us]"),
        "nclusters": np.array([e.nclusters for e in entries], dtype=np.int64),
        **{name: floats[:, i] for i, name in enumerate(_MACRO_FLOATS)},
        "backend": np.array([e.backend for e in entries], dtype=object),
        "timings": np.array([e.timings for e in entries], dtype=object),
    }
    return {"reco": reco, "macro": macro}


def covered(runs: np.ndarray, cameras: np.ndarray,
            replaced: list[tuple[int, int | None]]) -> np.ndarray:
    """Rows whose run (and camera) is wiped anyway by the batch's `replace_runs`."""
    hits = np.zeros(len(runs), dtype=bool)
    for run, camera in replaced:
        hit = runs == run
        if camera is not None:
            hit &= cameras == camera
        hits |= hit
    return hits
