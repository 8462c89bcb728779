"""Settings of the slow-control equipment (/Equipment/SlowControlN/Settings).

==================  ==============================  ==========================================
key                 default                         meaning
==================  ==============================  ==========================================
Driver              "sim"                           sim | opcua
Names               the gas PLC's 8 channels        channel names (history labels, bank order)
OPC-UA endpoint     "opc.tcp://localhost:4840"      the PLC's OPC-UA server
OPC-UA node ids     "ns=2;s=<name>" per channel     node id of each channel, same order
OPC-UA timeout      5.0                             seconds per request
Sim seed            0                               seed of the simulated readings
Retry period        10.0                            seconds between reconnection attempts
==================  ==============================  ==========================================

`OPC-UA node ids` may hold more entries than `Names` (the extra ones are unused), so a
channel is added by first appending its node id, then its name; both are edited one key
at a time on the ODB page and each step must be valid.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from cygno_mw.banks.slow_control import GAS_NAMES
from cygno_mw.frontends.settings_validation import (
    Problems,
    as_list,
    check_choice,
    check_number,
)

DRIVERS = ("sim", "opcua")


def default_settings() -> OrderedDict[str, Any]:
    return OrderedDict(
        [
            ("Driver", "sim"),
            ("Names", list(GAS_NAMES)),
            ("OPC-UA endpoint", "opc.tcp://localhost:4840"),
            ("OPC-UA node ids", [f"ns=2;s={name}" for name in GAS_NAMES]),
            ("OPC-UA timeout", 5.0),
            ("Sim seed", 0),
            ("Retry period", 10.0),
        ]
    )


def validate_slow_control_settings(settings: Mapping[str, Any]) -> Problems:
    problems: Problems = {}
    check_choice(settings, "Driver", DRIVERS, problems)
    names = as_list(settings.get("Names"))
    if not names or any(not isinstance(n, str) or not n.strip() for n in names):
        problems["Names"] = "every channel needs a non-empty name"
    elif len(set(names)) != len(names):
        problems["Names"] = "channel names must be unique"
    check_number(settings, "OPC-UA timeout", problems, above=0.0, maximum=120.0)
    check_number(settings, "Sim seed", problems, minimum=0, integer=True)
    check_number(settings, "Retry period", problems, minimum=0.0, maximum=3600.0)
    endpoint = settings.get("OPC-UA endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("opc.tcp://"):
        problems["OPC-UA endpoint"] = f"{endpoint!r} is not an opc.tcp:// address"
    node_ids = as_list(settings.get("OPC-UA node ids"))
    bad = [n for n in node_ids if not _looks_like_node_id(n)]
    if bad:
        problems["OPC-UA node ids"] = f"{bad[0]!r} is not an OPC-UA node id (ns=2;s=Name)"
    elif settings.get("Driver") == "opcua" and "Names" not in problems \
            and len(node_ids) < len(names):
        problems["OPC-UA node ids"] = (f"{len(node_ids)} node ids for {len(names)} channel "
                                       "names: add the node ids first")
    return problems


def _looks_like_node_id(text: Any) -> bool:
    if not isinstance(text, str) or not text:
        return False
    try:
        from asyncua import ua
    except ImportError:
        return any(part.startswith(("i=", "s=", "g=", "b=")) for part in text.split(";"))
    try:
        ua.NodeId.from_string(text)
    except Exception:
        return False
    return True
