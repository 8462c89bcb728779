"""Slowly drifting slow-control readings of LIME (HV, cathode, environment, gas system).

Values are centred on those of the real LIME ODB (run 42901) and drift smoothly with
time (daily and hourly cycles with per-channel phases) plus small read-out noise; both
are a pure function of (t, seed), so any instant can be re-evaluated.

Written into the MIDAS file as MIDAS's class drivers do (see `cygno_mw.banks.slow_control`):
one event per equipment, event ID = `/Equipment/<name>/Common/Event ID` (HV 3, CATHODE 4,
Environment 5, GasSystem 6), one float32 bank per variable in the order of the
equipment's channel names:

- HV: DMND, MSRD (V), CRNT (µA) over Offset, VGEM3, Transf2, VGEM2, Transf1, VGEM1, Drift,
  PMT1..PMT4
- CATHODE: DMND, MSRD (V; read back negative, as LIME's does), CRNT (µA) over ISEG_HPS
- Environment: INPT over Temperature (°C), Pressure (mbar), Humidity (%),
  Gas temperature (°C), Gas pressure (mbar)
- GasSystem: DMND, MSRD over the gas PLC's flows (l/h), pressures (bar) and analysers
  (STS_Flow_FCT101_VALU, STS_Flow_FCT201_VALU, STS_FT_Tot, STS_Press_PT401_VALU,
  Logic_Press_Camera, STS_Ana_AT401_VALUE, STS_Ana_AT402_VALUE, STS_FCT401_Corr)
"""

from __future__ import annotations

import math

import numpy as np

from cygno_mw.banks.slow_control import LIME_LAYOUTS, EquipmentLayout, encode_slow_control

DAY_S = 86400.0
HOUR_S = 3600.0

# Set points / centres, in the order of the layouts' names.
HV_DEMAND = (10.0, 400.0, 500.0, 400.0, 500.0, 400.0, 960.0, 772.0, 772.0, 800.0, 770.0)
HV_CURRENT = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 180.2, 180.8, 187.2, 179.4)
CATHODE_DEMAND = (41250.0,)
CATHODE_CURRENT = (-9.7,)
ENVIRONMENT_CENTRE = (18.5, 910.0, 45.0, 19.0, 908.0)
ENVIRONMENT_DAILY = (0.6, 3.0, 5.0, 0.4, 3.0)
ENVIRONMENT_NOISE = (0.05, 0.2, 0.3, 0.05, 0.2)
GAS_DEMAND = (3.0, 2.0, 5.0, 0.908, 0.908, 0.0, 0.0, 20.0)
GAS_CENTRE = (3.01, 2.00, 5.02, 0.9106, 0.908, 1277.0, 0.36, 19.97)
GAS_NOISE = (0.01, 0.01, 0.02, 0.0005, 0.0005, 3.0, 0.02, 0.05)


def slow_control_variables(t: float, *, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """{equipment: {ODB variable: float64 values in channel-name order}} at time `t`.

    `t` in seconds, UNIX time in `simulate_run` (so the daily cycle follows the clock).
    """
    hv_demand = np.array(HV_DEMAND)
    hv_measured = hv_demand + 0.3 * _cycle(t, HOUR_S, seed, 1, hv_demand.size) \
        + 0.1 * _noise(t, seed, 1, hv_demand.size)
    hv_current = np.array(HV_CURRENT) * (1.0 + 0.002 * _cycle(t, DAY_S, seed, 2, len(HV_CURRENT)))
    hv_current += 0.005 * _noise(t, seed, 2, hv_demand.size)

    cathode_demand = np.array(CATHODE_DEMAND)
    cathode_measured = -(cathode_demand + 40.0 + 5.0 * _noise(t, seed, 3, 1))
    cathode_current = np.array(CATHODE_CURRENT) + 0.05 * _cycle(t, DAY_S, seed, 3, 1)

    environment = np.array(ENVIRONMENT_CENTRE) \
        + np.array(ENVIRONMENT_DAILY) * _cycle(t, DAY_S, seed, 4, len(ENVIRONMENT_CENTRE)) \
        + np.array(ENVIRONMENT_NOISE) * _noise(t, seed, 4, len(ENVIRONMENT_CENTRE))

    gas_measured = np.array(GAS_CENTRE) \
        + np.array(GAS_NOISE) * (_cycle(t, HOUR_S, seed, 5, len(GAS_CENTRE))
                                 + _noise(t, seed, 5, len(GAS_CENTRE)))
    return {
        "HV": {"Demand": hv_demand, "Measured": hv_measured, "Current": hv_current},
        "CATHODE": {"Demand": cathode_demand, "Measured": cathode_measured,
                    "Current": cathode_current},
        "Environment": {"Input": environment},
        "GasSystem": {"Demand": np.array(GAS_DEMAND), "Measured": gas_measured},
    }


def slow_control_readings(t: float, *, seed: int = 0) -> dict[str, dict[str, float]]:
    """{equipment: {channel name: value}} of the main variable (Measured / Input) at `t`."""
    readings: dict[str, dict[str, float]] = {}
    for equipment, variables in slow_control_variables(t, seed=seed).items():
        layout = LIME_LAYOUTS[equipment]
        values = variables[layout.main_variable]
        readings[equipment] = {name: float(v) for name, v in zip(layout.names, values, strict=True)}
    return readings


def slow_control_events(
    t: float, *, seed: int = 0
) -> list[tuple[EquipmentLayout, dict[str, np.ndarray]]]:
    """(layout, banks) of each equipment's event at time `t`; write with `layout.event_id`."""
    variables = slow_control_variables(t, seed=seed)
    return [(LIME_LAYOUTS[name], encode_slow_control(LIME_LAYOUTS[name], values))
            for name, values in variables.items()]


def _cycle(t: float, period: float, seed: int, stream: int, n: int) -> np.ndarray:
    """sin(2πt/period + φ) with a fixed random phase φ per channel."""
    phases = np.random.default_rng([seed, stream, 0]).uniform(0.0, 2.0 * math.pi, n)
    return np.sin(2.0 * math.pi * t / period + phases)


def _noise(t: float, seed: int, stream: int, n: int) -> np.ndarray:
    """Read-out noise N(0, 1) that is the same every time `t` (to the ms) is asked for."""
    return np.random.default_rng([seed, stream, round(t * 1000.0) & 0xFFFFFFFF]) \
        .standard_normal(n)
