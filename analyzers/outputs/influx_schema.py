"""The InfluxDB schema, in one place: measurements, their tags and their fields.

| measurement           | tags                  | fields                                        |
|-----------------------|-----------------------|-----------------------------------------------|
| cygno_reco            | run, camera           | nclusters, cmos_integral, cmos_mean, cmos_rms,|
|                       |                       | cluster_light, processing_time_s (per event)  |
| cygno_image_quality   | run, camera           | pedestal_mean, pedestal_rms, noise_mean,      |
|                       |                       | noise_rms, hot_pixels                         |
| cygno_slow_control    | run, equipment        | one field per variable (name sanitized)       |
| cygno_daq             | run, equipment        | event_rate_hz, data_rate_mb_s, events,        |
|                       |                       | dropped_events, images_per_s                  |
| cygno_analyzer        | run, analyzer         | events_received, events_analyzed,             |
|                       |                       | events_skipped, rate_hz, latency_p50_s,       |
|                       |                       | latency_p99_s, backlog_events, output_backlog,|
|                       |                       | output_dropped                                |
| cygno_fe55            | run, camera           | peak, width, clusters (per time window)       |

Points carry nanosecond UTC timestamps. Tags are strings; integer fields are written as
Influx integers (`i` suffix), the others as floats. Prometheus-style readers (victoria-metrics,
Grafana's Prometheus source) see the series `<measurement>_<field>` with the tags as labels.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InfluxError

_FIELD_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class Measurement:
    """One measurement: its tags, and its fields with their types (float or int)."""

    name: str
    tags: tuple[str, ...]
    fields: Mapping[str, type] = field(default_factory=dict)
    free_fields: bool = False  # slow control: any variable name, float values
    doc: str = ""


RECO = Measurement(
    "cygno_reco", ("run", "camera"),
    {"nclusters": int, "cmos_integral": float, "cmos_mean": float, "cmos_rms": float,
     "cluster_light": float, "processing_time_s": float},
    doc="one point per reconstructed image",
)
IMAGE_QUALITY = Measurement(
    "cygno_image_quality", ("run", "camera"),
    {"pedestal_mean": float, "pedestal_rms": float, "noise_mean": float, "noise_rms": float,
     "hot_pixels": int},
    doc="pedestal and noise of the camera, per pedestal map or monitored image",
)
SLOW_CONTROL = Measurement(
    "cygno_slow_control", ("run", "equipment"), free_fields=True,
    doc="every slow-control variable of an equipment, one field each",
)
DAQ = Measurement(
    "cygno_daq", ("run", "equipment"),
    {"event_rate_hz": float, "data_rate_mb_s": float, "events": int, "dropped_events": int,
     "images_per_s": float},
    doc="acquisition rates, per equipment (the online analyzer copies /Equipment/*/Statistics)",
)
ANALYZER = Measurement(
    "cygno_analyzer", ("run", "analyzer"),
    {"events_received": int, "events_analyzed": int, "events_skipped": int, "rate_hz": float,
     "latency_p50_s": float, "latency_p99_s": float, "backlog_events": int,
     "output_backlog": int, "output_dropped": int},
    doc="the online analyzer's statistics (counters since it started), every statistics "
        "interval",
)
FE55 = Measurement(
    "cygno_fe55", ("run", "camera"),
    {"peak": float, "width": float, "clusters": int},
    doc="light-yield monitor: median light and robust width of 55Fe-like clusters per window",
)

MEASUREMENTS: dict[str, Measurement] = {m.name: m for m in (RECO, IMAGE_QUALITY,
                                                             SLOW_CONTROL, DAQ, ANALYZER,
                                                             FE55)}


def field_name(variable: str) -> str:
    """A slow-control variable name as a field name: letters, digits and '_' only."""
    name = _FIELD_NAME.sub("_", variable.strip())
    if not name or name[0].isdigit():
        name = f"v_{name}"
    return name


def _escape_tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _timestamp_ns(time: Any) -> int:
    if time is None:
        time = dt.datetime.now(dt.timezone.utc)
    if isinstance(time, dt.datetime):
        if time.tzinfo is None:
            time = time.replace(tzinfo=dt.timezone.utc)
        return int(time.timestamp()) * 1_000_000_000 + time.microsecond * 1000
    return round(float(time) * 1e9)


def line(measurement: Measurement, tags: Mapping[str, Any], fields: Mapping[str, Any],
         time: Any = None) -> str | None:
    """One point as InfluxDB line protocol, checked against the schema.

    Fields that are None or not finite are left out; None if no field remains."""
    unknown_tags = set(tags) - set(measurement.tags)
    if unknown_tags:
        raise InfluxError(f"{measurement.name}: unknown tags {sorted(unknown_tags)}")
    parts = []
    for name, value in fields.items():
        if measurement.free_fields:
            kind: type = float
            name = field_name(name)
        else:
            if name not in measurement.fields:
                raise InfluxError(f"{measurement.name}: unknown field {name!r} (known: "
                                  f"{', '.join(measurement.fields)})")
            kind = measurement.fields[name]
        if value is None:
            continue
        number = float(value)
        if not math.isfinite(number):
            continue
        parts.append(f"{name}={int(number)}i" if kind is int else f"{name}={number!r}")
    if not parts:
        return None
    tag_text = "".join(f",{k}={_escape_tag(str(v))}" for k, v in sorted(tags.items())
                       if v is not None and str(v) != "")
    return f"{measurement.name}{tag_text} {','.join(parts)} {_timestamp_ns(time)}"
