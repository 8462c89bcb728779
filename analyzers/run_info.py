"""The Run row of a run, read from its begin/end-of-run ODB as the experiment's run log does.

Paths as in LIME's ODB: description `/Experiment/Run Parameters/Run description`, times
`/Runinfo/Start time binary` / `Stop time binary` (UNIX seconds; 0 = not set), exposure
`/Configurations/Exposure` (0 or absent: the camera equipment's own `Settings/Exposure`), the
pedestal flag `/Configurations/Pedestal`, and the high
voltages from `/Equipment/HV`: `Settings/Names` gives each channel's name and
`Variables/Demand` its set point (the run log's GEMn_V, Tn_V, DRIFT_V, ... are set
points), `Variables/ChState` whether it is on.  Anything absent is left NULL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cygno_mw.midasfile.odbdump import odb_get

# HV channel name (lower case) -> column of `runs`
HV_COLUMNS: dict[str, str] = {
    "vgem1": "gem1_v", "vgem2": "gem2_v", "vgem3": "gem3_v",
    "transf1": "t1_v", "transf2": "t2_v", "drift": "drift_v", "offset": "offset_v",
    "pmt1": "pmt1_v", "pmt2": "pmt2_v", "pmt3": "pmt3_v", "pmt4": "pmt4_v",
}
_GEM_CHANNELS = ("vgem1", "vgem2", "vgem3", "transf1", "transf2", "drift")


def is_pedestal_run(odb: Mapping[str, Any] | None) -> bool:
    """`/Configurations/Pedestal` of the begin-of-run ODB (False when absent)."""
    value = odb_get(odb or {}, "/Configurations/Pedestal", False)
    if isinstance(value, str):
        return value.strip().lower() in ("y", "yes", "true", "1")
    return bool(value)


def begin_of_run_fields(run: int, odb: Mapping[str, Any] | None) -> dict[str, Any]:
    """Columns of `runs` known at the start: description, start time, exposure, voltages."""
    odb = odb or {}
    record: dict[str, Any] = {"run": int(run)}
    description = odb_get(odb, "/Experiment/Run Parameters/Run description", None)
    if isinstance(description, str):
        record["description"] = description
    start = _epoch(odb_get(odb, "/Runinfo/Start time binary", None))
    if start is not None:
        record["start_time"] = start
    exposure = run_exposure(odb)
    if exposure is not None:
        record["exposure_s"] = exposure
    record.update(high_voltages(odb))
    return record


def end_of_run_fields(eor_odb: Mapping[str, Any] | None) -> dict[str, Any]:
    """Columns known at the end from the end-of-run ODB: the stop time."""
    stop = _epoch(odb_get(eor_odb or {}, "/Runinfo/Stop time binary", None))
    return {} if stop is None else {"stop_time": stop}


def daq_event_count(eor_odb: Mapping[str, Any] | None,
                    cameras: Iterable[int] | None = None) -> int | None:
    """The run's camera events as the DAQ knows them: the events its camera frontends sent
    (`/Equipment/Camera<n>/Statistics/Events sent` of the end-of-run ODB, summed over the
    cameras, or over `cameras` only), else None (no such statistics: the file's events are
    its count)."""
    equipment = odb_get(eor_odb or {}, "/Equipment", {})
    wanted = None if cameras is None else {int(c) for c in cameras}
    counts = []
    for name in equipment if isinstance(equipment, Mapping) else ():
        if not (name.startswith("Camera") and name[6:].isdigit()):
            continue
        if wanted is not None and int(name[6:]) not in wanted:
            continue
        sent = _number(odb_get(equipment, f"/{name}/Statistics/Events sent", None))
        if sent is not None and sent >= 0:
            counts.append(int(sent))
    return sum(counts) if counts else None


def run_exposure(odb: Mapping[str, Any]) -> float | None:
    """The run's exposure in seconds: `/Configurations/Exposure` when set (> 0, as in LIME's
    ODB), else the `Settings/Exposure` of the camera equipment (the lowest camera index)."""
    configured = _number(odb_get(odb, "/Configurations/Exposure", None))
    if configured is not None and configured > 0:
        return configured
    equipment = odb_get(odb, "/Equipment", {})
    cameras = sorted(int(name[6:]) for name in (equipment if isinstance(equipment, Mapping)
                                                 else ())
                     if name.startswith("Camera") and name[6:].isdigit())
    for index in cameras:
        exposure = _number(odb_get(equipment, f"/Camera{index}/Settings/Exposure", None))
        if exposure is not None and exposure > 0:
            return exposure
    return configured


def high_voltages(odb: Mapping[str, Any]) -> dict[str, Any]:
    """gem1_v ... pmt4_v from the HV equipment's names and demand values, and hv_state."""
    names = odb_get(odb, "/Equipment/HV/Settings/Names", None)
    demand = odb_get(odb, "/Equipment/HV/Variables/Demand", None)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not isinstance(demand, list | int | float):
        return {}
    demand = demand if isinstance(demand, list) else [demand]
    fields: dict[str, Any] = {}
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        key = str(name).strip().lower()
        column = HV_COLUMNS.get(key)
        if column is None or column in fields or index >= len(demand):
            continue
        value = _number(demand[index])
        if value is not None:
            fields[column] = value
            positions[key] = index
    state = odb_get(odb, "/Equipment/HV/Variables/ChState", None)
    if isinstance(state, list) and positions:
        gem = [positions[k] for k in _GEM_CHANNELS if k in positions]
        if gem and all(i < len(state) for i in gem):
            fields["hv_state"] = int(all(_number(state[i]) == 1 for i in gem))
    return fields


_LATEST_EPOCH = 253402300799  # 9999-12-31 23:59:59 UTC, the last time a datetime holds


def utc_time(epoch: float | None) -> dt.datetime | None:
    """UNIX seconds as the naive-UTC datetime the SQL tables hold; None for 0 / unset."""
    if epoch is None or not 0 < epoch < _LATEST_EPOCH:  # beyond year 9999: garbage, not a time
        return None
    return dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc).replace(tzinfo=None)


def _epoch(value: Any) -> dt.datetime | None:
    return utc_time(_number(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None
