"""Settings of a camera equipment (/Equipment/CameraN/Settings): defaults and validation.

Keys (units in the name where one applies):

==================  ==========  ===========================================================
key                 default     meaning
==================  ==========  ===========================================================
Driver              "sim"       sim | replay | dcam (see camera_drivers)
Exposure            0.3         seconds; 0 < exposure <= 1800
Trigger mode        "internal"  internal | external | software
ROI x0, ROI y0      0           first column / row of the region of interest (multiple of 4)
ROI width, height   2304        size in sensor pixels (multiple of 4, inside 2304 x 2304)
Binning             1           1, 2 or 4 (sums binning x binning pixels, clipped at 65535)
Frame rate          3.0         sim / replay: frames per second, 0 = as fast as read out
Sim mix             ...         signals per image, `cygno_mw.simulation.SignalMix.parse` text
Sim seed            1           seed of the simulated sensor and signals
Sim pool            4           distinct simulated images made at start and served in turn
Replay file         ""          MIDAS file (.mid / .mid.lz4 / .mid.gz) whose images replay
Replay bank         "CAM0"      bank of that file holding the images
Replay loop         true        start the file again at its end
DCAM index          0           which Hamamatsu camera (DCAM-API index)
Retry period        5.0         seconds between reconnection attempts to a lost device
==================  ==========  ===========================================================
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from cygno_mw.frontends.settings_validation import (
    Problems,
    check_choice,
    check_number,
    check_sim_mix,
)

SENSOR_ROWS = 2304  # Hamamatsu ORCA-Fusion
SENSOR_COLS = 2304
ROI_STEP = 4  # ORCA-Fusion subarray granularity
BINNINGS = (1, 2, 4)
TRIGGER_MODES = ("internal", "external", "software")
MAX_EXPOSURE_S = 1800.0
DEFAULT_SIM_MIX = "fe55=5,muon=1,nr=1,er=2"


def default_settings() -> OrderedDict[str, Any]:
    """The Settings the camera equipment creates (and odb_templates/camera.json holds)."""
    return OrderedDict(
        [
            ("Driver", "sim"),
            ("Exposure", 0.3),
            ("Trigger mode", "internal"),
            ("ROI x0", 0),
            ("ROI y0", 0),
            ("ROI width", SENSOR_COLS),
            ("ROI height", SENSOR_ROWS),
            ("Binning", 1),
            ("Frame rate", 3.0),
            ("Sim mix", DEFAULT_SIM_MIX),
            ("Sim seed", 1),
            ("Sim pool", 4),
            ("Replay file", ""),
            ("Replay bank", "CAM0"),
            ("Replay loop", True),
            ("DCAM index", 0),
            ("Retry period", 5.0),
        ]
    )


def validate_camera_settings(settings: Mapping[str, Any], drivers: list[str]) -> Problems:
    """What is wrong with these Settings, by key (empty when all is fine)."""
    problems: Problems = {}
    check_choice(settings, "Driver", drivers, problems)
    check_number(settings, "Exposure", problems, above=0.0, maximum=MAX_EXPOSURE_S)
    check_choice(settings, "Trigger mode", TRIGGER_MODES, problems)
    _check_roi(settings, problems)
    check_number(settings, "Frame rate", problems, minimum=0.0, maximum=10000.0)
    check_number(settings, "Sim seed", problems, minimum=0, integer=True)
    check_number(settings, "Sim pool", problems, minimum=1, maximum=64, integer=True)
    check_number(settings, "DCAM index", problems, minimum=0, integer=True)
    check_number(settings, "Retry period", problems, minimum=0.0, maximum=3600.0)
    check_sim_mix(settings, problems)
    bank = settings.get("Replay bank")
    if not isinstance(bank, str) or len(bank) != 4:
        problems["Replay bank"] = f"{bank!r} is not a 4-character bank name"
    if settings.get("Driver") == "replay":
        path = settings.get("Replay file")
        if not path:
            problems["Replay file"] = "the replay driver needs a Replay file"
        elif not os.path.isfile(str(path)):
            problems["Replay file"] = f"{path!r} is not a readable file"
    return problems


def _check_roi(settings: Mapping[str, Any], problems: Problems) -> None:
    for key, size in (("ROI x0", SENSOR_COLS), ("ROI y0", SENSOR_ROWS)):
        check_number(settings, key, problems, minimum=0, maximum=size - ROI_STEP, integer=True)
    for key, size in (("ROI width", SENSOR_COLS), ("ROI height", SENSOR_ROWS)):
        check_number(settings, key, problems, minimum=ROI_STEP, maximum=size, integer=True)
    if settings.get("Binning") not in BINNINGS:
        problems["Binning"] = f"{settings.get('Binning')!r} is not one of 1, 2, 4"
    if any(k in problems for k in ("ROI x0", "ROI y0", "ROI width", "ROI height", "Binning")):
        return
    for start, size, limit, axis in (("ROI x0", "ROI width", SENSOR_COLS, "columns"),
                                     ("ROI y0", "ROI height", SENSOR_ROWS, "rows")):
        first, count = int(settings[start]), int(settings[size])
        if first + count > limit:
            problems[size] = (f"ROI {axis} {first}..{first + count - 1} fall outside the "
                              f"sensor (0..{limit - 1})")
        for key in (start, size):
            if int(settings[key]) % ROI_STEP:
                problems[key] = f"{settings[key]} is not a multiple of {ROI_STEP}"
        if count % int(settings["Binning"]):
            problems[size] = f"{count} is not a multiple of the binning {settings['Binning']}"
