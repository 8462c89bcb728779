"""A begin-of-run ODB shaped like LIME's (same key paths and spelling as the real dump).

Mimicked from the LIME ODB of run 42901: `/Experiment` (Name, Run Parameters, Edit on
start), `/Runinfo`, `/Logger` (Channels/0, Runlog/SQL links), `/Equipment` (Trigger,
CameraStatus, HV, CATHODE, Environment, GasSystem with Common/Variables/Settings/
Statistics), `/Configurations` (Exposure, Pedestal, run_type, digitizer settings, ...),
`/Sequencer` (the keys the run log links to) and `/middleware`.  `/Analyzer` is left to
the analyzer, which adds its parameters there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygno_mw.banks.slow_control import LIME_LAYOUTS
from cygno_mw.simulation.pmt import FAST_BOARD, SLOW_BOARD
from cygno_mw.simulation.slowcontrol import slow_control_variables

DEFAULT_START_TIME = 1702593197  # LIME run 42901 started then (Thu Dec 14 23:33:17 2023)
RUN_SPACING_S = 3600  # simulated run n starts (n - 1) hours after run 1


def default_start_time(run_number: int) -> int:
    """When simulated run `run_number` starts unless told: one run an hour from LIME's run
    42901, so two runs never share a time (their slow-control samples stay apart) and
    numbers wrap after 50000 runs (about 5.7 years), well inside MIDAS's 32-bit times."""
    return DEFAULT_START_TIME + (int(run_number) - 1) % 50000 * RUN_SPACING_S
SC_FRONTEND = ("SC Frontend", "/home/standard/daq/online/scfe.cxx")
DAQ_TIME_ZONE = "Europe/Rome"
DAQ_FRONTEND = ("cygnus_daq", "/home/standard/daq/online/cygnus_fe.cxx")


def midas_time(epoch: float) -> str:
    """A time as MIDAS writes it in /Runinfo: ctime format in the DAQ's local time.

    LNGS time (Europe/Rome) regardless of where the simulation runs, so files are the
    same everywhere; UTC where the time-zone database is missing.
    """
    from datetime import datetime, timezone

    try:
        from zoneinfo import ZoneInfo

        zone: Any = ZoneInfo(DAQ_TIME_ZONE)
    except Exception:  # no tz database on this machine
        zone = timezone.utc
    local = datetime.fromtimestamp(epoch, zone)
    return f"{local:%a %b} {local.day:2d} {local:%H:%M:%S %Y}"


def lime_like_odb(
    run_number: int,
    *,
    pedestal: bool,
    exposure: float = 0.3,
    start_time: float | None = None,
    description: str | None = None,
    drs4_correction: bool = False,
    pmt_acquisition: bool = True,
    run_type: int = 0,
    nsigma: float = 2.5,
    sc_seed: int = 0,
    data_dir: str = "/data01/data/",
    compression: str = "lz4",
) -> dict[str, Any]:
    """The ODB as the begin-of-run dump holds it (run state: running)."""
    start = float(DEFAULT_START_TIME if start_time is None else start_time)
    if description is None:
        description = "Simulated pedestal run" if pedestal else "Simulated physics run"
    return {
        "Experiment": _experiment(description),
        "Logger": _logger(run_number, data_dir, compression),
        "Runinfo": {
            "State": 3,
            "Online Mode": 1,
            "Run number": int(run_number),
            "Transition in progress": 0,
            "Start abort": 0,
            "Requested transition": 0,
            "Start time": midas_time(start),
            "Start time binary": int(start),
            "Stop time": midas_time(start - 3.0),  # the previous run's, as at a real BOR
            "Stop time binary": 0,
        },
        "Equipment": _equipment(start, sc_seed),
        "Configurations": _configurations(pedestal, exposure, drs4_correction,
                                          pmt_acquisition, run_type),
        "Sequencer": {"Command": {"Load filename": ""}, "State": {"Running": False}},
        "middleware": {"nsigma": float(nsigma), "save_ped": False, "image_update_time": 10,
                       "reconstruction_sample_gap": 10},
    }


def end_of_run_odb(
    odb: Mapping[str, Any], *, stop_time: float, events: int, bytes_written: int = 0,
    sc_seed: int = 0,
) -> dict[str, Any]:
    """A copy of a begin-of-run ODB as the end-of-run dump holds it (stopped, counted)."""
    import copy

    out = copy.deepcopy(dict(odb))
    runinfo = out.setdefault("Runinfo", {})
    runinfo.update({"State": 1, "Stop time": midas_time(stop_time),
                    "Stop time binary": int(stop_time)})
    start = float(runinfo.get("Start time binary", stop_time))
    duration = max(stop_time - start, 1e-9)
    trigger = out.setdefault("Equipment", {}).setdefault("Trigger", {})
    trigger["Statistics"] = {"Events sent": float(events),
                             "Events per sec.": round(events / duration, 3),
                             "kBytes per sec.": round(bytes_written / 1000.0 / duration, 3)}
    channel = out.setdefault("Logger", {}).setdefault("Channels", {}).setdefault("0", {})
    channel.setdefault("Statistics", {}).update(
        {"Events written": float(events), "Bytes written": float(bytes_written),
         "Bytes written uncompressed": float(bytes_written)})
    for name, variables in slow_control_variables(stop_time, seed=sc_seed).items():
        out["Equipment"].setdefault(name, {})["Variables"] = _odb_values(variables)
    out.setdefault("Configurations", {})["storage_flag_mid_written"] = 1
    return out


def _experiment(description: str) -> dict[str, Any]:
    return {
        "Name": "CYGNUS_RD",
        "MAX_EVENT_SIZE": 4194304,
        "Run Parameters": {"Run description": description},
        "Edit on start": {
            "Write data": "/Logger/Write data",
            "Run description": "/Experiment/Run Parameters/Run description",
            "Exposure": "/Configurations/Exposure",
            "FreeRunning": "/Configurations/FreeRunning",
            "MaxEvents": "/Configurations/MaxEvents",
            "Pedestal": "/Configurations/Pedestal",
            "pmt_acquisition": "/Configurations/pmt_acquisition",
            "run_type": "/Configurations/run_type",
            "source_type": "/Configurations/SourceState/source_type",
            "source_position": "/Configurations/SourceState/source_position",
        },
    }


def _logger(run_number: int, data_dir: str, compression: str) -> dict[str, Any]:
    links_bor = {
        "run_number": "/Runinfo/Run number",
        "run_description": "/Experiment/Run Parameters/Run description",
        "start_time": "/Runinfo/Start time",
        "exposure_sec": "/Configurations/Exposure",
        "storage_local_status": "/Configurations/storage_flag_default",
        "storage_cloud_status": "/Configurations/storage_flag_default",
        "storage_tape_status": "/Configurations/storage_flag_default",
        "pedestal_run": "/Configurations/Pedestal",
        "run_type": "/Configurations/run_type",
        "drs4_correction_active": "/Configurations/DRS4Correction",
        "pmt_acquisition": "/Configurations/pmt_acquisition",
    }
    links_eor = {
        "storage_local_status": "/Configurations/storage_flag_mid_written",
        "stop_time": "/Runinfo/Stop time",
        "number_of_events": "/Equipment/Trigger/Statistics/Events sent",
    }
    return {
        "Data dir": data_dir,
        "Write data": True,
        "ODB Dump": False,
        "ODB Dump File": "run%05d.json",
        "ODB Last Dump File": "last.json",
        "Channels": {"0": {
            "Settings": {
                "Active": True, "Type": "Disk", "Filename": "run%05d.mid", "Format": "MIDAS",
                "Compression": 0, "ODB dump": True, "ODB dump format": "json",
                "Event ID": -1, "Trigger mask": -1,
                "Current filename": f"run{int(run_number):05d}.mid",
                "Compress": compression,
            },
            "Statistics": {"Events written": 0.0, "Bytes written": 0.0,
                           "Bytes written uncompressed": 0.0},
        }},
        "Runlog": {"SQL": {"Write data": True, "Table": "Runlog", "Links BOR": links_bor,
                           "Links EOR": links_eor}},
    }


def _common(event_id: int, frontend: tuple[str, str], eq_type: int, period_ms: int,
            log_history: int) -> dict[str, Any]:
    return {
        "Event ID": event_id, "Trigger mask": 0, "Buffer": "SYSTEM", "Type": eq_type,
        "Source": 0, "Format": "MIDAS", "Enabled": True,
        "Read on": 1 if eq_type == 2 else 255, "Period": period_ms, "Event limit": 0,
        "Num subevents": 0, "Log history": log_history, "Frontend host": "localhost",
        "Frontend name": frontend[0], "Frontend file name": frontend[1], "Status": "Ok",
        "Status color": "greenLight", "Hidden": False, "Write cache size": 0,
    }


def _equipment(start: float, sc_seed: int) -> dict[str, Any]:
    statistics = {"Events sent": 0.0, "Events per sec.": 0.0, "kBytes per sec.": 0.0}
    equipment: dict[str, Any] = {
        "Trigger": {"Common": _common(1, DAQ_FRONTEND, 2, 100, 0), "Variables": {},
                    "Statistics": dict(statistics)},
        "CameraStatus": {"Common": _common(7, DAQ_FRONTEND, 1, 10000, 0),
                         "Variables": {"Sensor Temperature": -18, "TCAM": -19},
                         "Statistics": dict(statistics)},
    }
    for name, variables in slow_control_variables(start, seed=sc_seed).items():
        layout = LIME_LAYOUTS[name]
        names = list(layout.names)
        names_key = "Names Input" if "Input" in layout.variables else "Names"
        equipment[name] = {
            "Common": _common(layout.event_id, SC_FRONTEND, 16, 60000, 1),
            "Variables": _odb_values(variables),
            "Statistics": dict(statistics),
            "Settings": {names_key: names[0] if len(names) == 1 else names},
        }
    return equipment


def _odb_values(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Arrays as lists (single values as scalars, as the ODB shows one-channel equipment)."""
    out: dict[str, Any] = {}
    for key, values in variables.items():
        listed = [float(v) for v in values]
        out[key] = listed[0] if len(listed) == 1 else listed
    return out


def _configurations(pedestal: bool, exposure: float, drs4_correction: bool,
                    pmt_acquisition: bool, run_type: int) -> dict[str, Any]:
    boards = (FAST_BOARD, SLOW_BOARD)
    return {
        "FreeRunning": False,
        "TriggerMode": 0,
        "MaxEvents": -1,
        "Pedestal": bool(pedestal),
        "Exposure": float(exposure),
        "Number of Digitizers": len(boards),
        "Digitizer Base Address": [839909376, 1108344832],
        "Digitizer Link Number": [1, 1],
        "MultiTriggerMaxSize": 128,
        "SamplingFrequency": [0, 4],
        "DigitizerPostTrg": [round(100 * b.post_trigger) for b in boards],
        "DigitizerOffset": [float(o) for b in boards for o in b.offsets],
        "DigitizerSamples": [b.n_samples for b in boards],
        "Threshold": 0,
        "storage_flag_default": -1,
        "storage_flag_mid_written": 0,
        "DRS4Correction": bool(drs4_correction),
        "TriggerState": {"discrimination_threshold": 2, "trigger_veto_time": 10,
                         "trigger_logic": 0},
        "SourceState": {"source_position": 0, "source_type": 0},
        "run_type": int(run_type),
        "shielding_configuration": 3,
        "pmt_acquisition": bool(pmt_acquisition),
        "DigitizerSN": [16362, 17174],
        "DRS4Correction_id": 0,
    }
