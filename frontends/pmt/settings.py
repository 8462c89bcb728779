"""Settings of a PMT digitizer equipment (/Equipment/PMTN/Settings).

==============  =========================  =================================================
key             default                    meaning
==============  =========================  =================================================
Driver          "sim"                      sim (simulated waveforms)
Boards          "both"                     both | V1742 | V1720: which digitizers are read
Trigger rate    1.0                        sim: events per second (0 = as fast as read out)
Exposure        0.3                        sim: seconds of camera exposure per event
Sim mix         "fe55=5,muon=1,nr=1,er=2"  sim: signals per exposure (SignalMix.parse text)
Sim seed        1                          sim: seed of signals and waveforms
Retry period    5.0                        seconds between reconnection attempts
==============  =========================  =================================================
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from cygno_mw.frontends.settings_validation import (
    Problems,
    check_choice,
    check_number,
    check_sim_mix,
)

DRIVERS = ("sim",)
BOARD_CHOICES = ("both", "V1742", "V1720")


def default_settings() -> OrderedDict[str, Any]:
    return OrderedDict(
        [
            ("Driver", "sim"),
            ("Boards", "both"),
            ("Trigger rate", 1.0),
            ("Exposure", 0.3),
            ("Sim mix", "fe55=5,muon=1,nr=1,er=2"),
            ("Sim seed", 1),
            ("Retry period", 5.0),
        ]
    )


def validate_pmt_settings(settings: Mapping[str, Any], drivers: list[str]) -> Problems:
    problems: Problems = {}
    check_choice(settings, "Driver", drivers, problems)
    check_choice(settings, "Boards", BOARD_CHOICES, problems)
    check_number(settings, "Trigger rate", problems, minimum=0.0, maximum=1000.0)
    check_number(settings, "Exposure", problems, above=0.0, maximum=1800.0)
    check_number(settings, "Sim seed", problems, minimum=0, integer=True)
    check_number(settings, "Retry period", problems, minimum=0.0, maximum=3600.0)
    check_sim_mix(settings, problems)
    return problems
