"""Slow-control events as MIDAS's generic class drivers write them (LIME's "SC Frontend").

Each slow-control equipment is read into its own MIDAS event, whose event ID is the
equipment's `/Equipment/<name>/Common/Event ID` (LIME: HV 3, CATHODE 4, Environment 5,
GasSystem 6).  The event holds one float32 bank per ODB variable, values in the order of
the equipment's channel names (`/Settings/Names`, or `Names Input` / `Names Output`):

=======  ===================  =======================================
bank     ODB variable         class driver
=======  ===================  =======================================
DMND     Variables/Demand     hv, generic (set points)
MSRD     Variables/Measured   hv, generic (read-back)
CRNT     Variables/Current    hv (µA)
INPT     Variables/Input      multi (sensors)
OUTP     Variables/Output     multi (actuators)
=======  ===================  =======================================

Bank names repeat between equipment, so an event is decoded with the layout its event ID
selects (`layout_for_event`); the layouts come from the run's ODB (`layouts_from_odb`) or,
for the simulation, from `LIME_LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

VARIABLE_BANKS = {"Demand": "DMND", "Measured": "MSRD", "Current": "CRNT",
                  "Input": "INPT", "Output": "OUTP"}
_NAMES_KEYS = {"Input": "Names Input", "Output": "Names Output"}
MAIN_VARIABLES = ("Measured", "Input")  # the reading of an equipment, in this preference


class SlowControlBankError(CygnoError):
    """A slow-control event that does not match its equipment's layout."""


@dataclass(frozen=True)
class EquipmentLayout:
    """How one slow-control equipment's event looks: its ID, banks and channel names."""

    equipment: str
    event_id: int
    variables: tuple[str, ...]  # ODB variable names, each one bank (see VARIABLE_BANKS)
    names: tuple[str, ...]  # channel names, shared by the variables (Names Input for Input)
    output_names: tuple[str, ...] = ()

    def names_for(self, variable: str) -> tuple[str, ...]:
        return self.output_names if variable == "Output" else self.names

    @property
    def main_variable(self) -> str:
        return next((v for v in MAIN_VARIABLES if v in self.variables), self.variables[0])


HV_NAMES = ("Offset", "VGEM3", "Transf2", "VGEM2", "Transf1", "VGEM1", "Drift",
            "PMT1", "PMT2", "PMT3", "PMT4")
CATHODE_NAMES = ("ISEG_HPS",)
ENVIRONMENT_NAMES = ("Temperature", "Pressure", "Humidity", "Gas temperature", "Gas pressure")
GAS_NAMES = ("STS_Flow_FCT101_VALU", "STS_Flow_FCT201_VALU", "STS_FT_Tot",
             "STS_Press_PT401_VALU", "Logic_Press_Camera", "STS_Ana_AT401_VALUE",
             "STS_Ana_AT402_VALUE", "STS_FCT401_Corr")

LIME_LAYOUTS: dict[str, EquipmentLayout] = {
    "HV": EquipmentLayout("HV", 3, ("Demand", "Measured", "Current"), HV_NAMES),
    "CATHODE": EquipmentLayout("CATHODE", 4, ("Demand", "Measured", "Current"), CATHODE_NAMES),
    "Environment": EquipmentLayout("Environment", 5, ("Input",), ENVIRONMENT_NAMES),
    "GasSystem": EquipmentLayout("GasSystem", 6, ("Demand", "Measured"), GAS_NAMES),
}


def encode_slow_control(
    layout: EquipmentLayout, variables: Mapping[str, Sequence[float]]
) -> dict[str, np.ndarray]:
    """The banks of one slow-control event: {bank name: float32 values in names order}."""
    banks: dict[str, np.ndarray] = {}
    for variable in layout.variables:
        if variable not in variables:
            raise SlowControlBankError(f"{layout.equipment}: no values for {variable!r}")
        values = np.asarray(variables[variable], dtype=np.float32).reshape(-1)
        expected = len(layout.names_for(variable))
        if values.size != expected:
            raise SlowControlBankError(
                f"{layout.equipment}/{variable}: {values.size} values for {expected} names")
        banks[VARIABLE_BANKS[variable]] = values
    return banks


def decode_slow_control(
    layout: EquipmentLayout, banks: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """{ODB variable: {channel name: value}} from an event's banks (objects with `.data`
    or arrays).  Repeated channel names get their index appended, e.g. `broken[17]`."""
    decoded: dict[str, dict[str, float]] = {}
    for variable in layout.variables:
        bank = banks.get(VARIABLE_BANKS[variable])
        if bank is None:
            continue
        values = np.asarray(getattr(bank, "data", bank)).reshape(-1)
        names = _unique(layout.names_for(variable))
        if values.size != len(names):
            raise SlowControlBankError(
                f"{layout.equipment}/{variable}: bank has {values.size} values "
                f"for {len(names)} channel names")
        decoded[variable] = {name: float(v) for name, v in zip(names, values, strict=True)}
    if not decoded:
        raise SlowControlBankError(f"{layout.equipment}: event has none of its banks")
    return decoded


def readings_from_banks(layout: EquipmentLayout, banks: Mapping[str, Any]) -> dict[str, float]:
    """{channel name: value} of the equipment's main variable (Measured, else Input)."""
    decoded = decode_slow_control(layout, banks)
    main = layout.main_variable
    return decoded.get(main) or next(iter(decoded.values()))


def layout_for_event(
    event_id: int, layouts: Mapping[str, EquipmentLayout] = LIME_LAYOUTS
) -> EquipmentLayout | None:
    """The layout whose equipment writes events with this ID, or None."""
    return next((lay for lay in layouts.values() if lay.event_id == event_id), None)


def layouts_from_odb(odb: Mapping[str, Any]) -> dict[str, EquipmentLayout]:
    """Layouts of every class-driver equipment in an ODB (dump) tree: `/Equipment/*` with
    an event ID, channel names under `Settings` and at least one known variable."""
    layouts: dict[str, EquipmentLayout] = {}
    equipment = odb.get("Equipment", {}) if isinstance(odb, Mapping) else {}
    for name, tree in equipment.items():
        if not isinstance(tree, Mapping) or name.endswith("/key"):
            continue
        event_id = tree.get("Common", {}).get("Event ID")
        settings = tree.get("Settings", {})
        variables = tree.get("Variables", {})
        if event_id is None or not isinstance(settings, Mapping):
            continue
        found = [v for v in VARIABLE_BANKS if v in variables]
        names = _names(settings, "Input" if "Input" in found else "Measured")
        output_names = _names(settings, "Output")
        found = [v for v in found if (output_names if v == "Output" else names)]
        if found:
            layouts[name] = EquipmentLayout(name, int(event_id), tuple(found), names,
                                            output_names)
    return layouts


def _names(settings: Mapping[str, Any], variable: str) -> tuple[str, ...]:
    value = settings.get(_NAMES_KEYS.get(variable, "Names"))
    if value is None and variable != "Output":
        value = settings.get("Names")
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _unique(names: Sequence[str]) -> list[str]:
    """Names with repeats disambiguated by their index."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{name}[{i}]" for i, name in enumerate(names)]
