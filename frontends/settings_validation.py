"""Live tuning of equipment Settings: check each change, apply it, or put the old value back.

MIDAS calls `settings_changed_func()` after someone edits /Equipment/<name>/Settings; the
equipment hands the new Settings to `LiveSettings.changed()`, which compares them with the
last accepted ones, validates every changed key (with the other keys as already accepted, so
cross-key rules such as "ROI inside the sensor" see a consistent set), applies the good ones at
once and rejects a bad one with a MIDAS error message, writing the previous value back.
Writing it back triggers one more notification, which finds nothing changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cygno_mw.errors import ConfigError, CygnoError

Problems = dict[str, str]
Validator = Callable[[Mapping[str, Any]], Problems]
Applier = Callable[[dict[str, Any], set[str]], None]


def as_list(value: Any) -> list[Any]:
    """ODB arrays of one element read back as a scalar: always give a list."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return as_list(a) == as_list(b)
    return a == b


def check_number(settings: Mapping[str, Any], key: str, problems: Problems, *,
                 minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, integer: bool = False) -> None:
    """Record in `problems` why settings[key] is not a number in range (if it is not)."""
    value = settings.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems[key] = f"{value!r} is not a finite number"
        return
    if integer and value != int(value):
        problems[key] = f"{value!r} is not a whole number"
    elif above is not None and not value > above:
        problems[key] = f"{value!r} must be above {above:g}"
    elif minimum is not None and value < minimum:
        problems[key] = f"{value!r} is below the minimum {minimum:g}"
    elif maximum is not None and value > maximum:
        problems[key] = f"{value!r} is above the maximum {maximum:g}"


def check_choice(settings: Mapping[str, Any], key: str, choices: Iterable[str],
                 problems: Problems) -> None:
    allowed = list(choices)
    if settings.get(key) not in allowed:
        problems[key] = f"{settings.get(key)!r} is not one of {', '.join(allowed)}"


def check_sim_mix(settings: Mapping[str, Any], problems: Problems) -> None:
    """The simulated signal mix ("Sim mix") must parse (`SignalMix.parse`)."""
    try:
        from cygno_mw.simulation.signals import SignalMix

        SignalMix.parse(str(settings.get("Sim mix", "")))
    except CygnoError as exc:
        problems["Sim mix"] = str(exc)


class LiveSettings:
    """The accepted Settings of one equipment, guarded by `validate` and pushed by `apply`.

    `apply(settings, changed_keys)` makes the device use the new values; an exception from it
    (the hardware refused) rejects all of them.
    """

    def __init__(self, client: Any, settings_dir: str, label: str, validate: Validator,
                 apply: Applier) -> None:
        self.client = client
        self.settings_dir = settings_dir
        self.label = label
        self.validate = validate
        self.apply = apply
        self.accepted: dict[str, Any] = {}

    def start(self, current: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Adopt the ODB Settings found at start; a bad value is reported and reset to default."""
        candidate = dict(current)
        for key, problem in self.validate(candidate).items():
            if key in defaults:
                self.client.msg(
                    f"{self.label}: Settings/{key} = {candidate.get(key)!r} is invalid "
                    f"({problem}); using the default {defaults[key]!r}",
                    is_error=True,
                )
                candidate[key] = defaults[key]
                self.client.odb_set(f"{self.settings_dir}/{key}", defaults[key])
        remaining = self.validate(candidate)
        if remaining:
            raise ConfigError(f"{self.label}: invalid Settings: " + "; ".join(
                f"{k}: {v}" for k, v in remaining.items()))
        self.accepted = candidate
        return dict(candidate)

    def changed(self, current: Mapping[str, Any]) -> set[str]:
        """Validate and apply what differs from the accepted Settings; return what was taken."""
        changed = [k for k in self.accepted if k in current
                   and not same_value(current[k], self.accepted[k])]
        if not changed:
            return set()
        candidate = dict(self.accepted)
        taken: list[str] = []
        for key in changed:
            trial = dict(candidate)
            trial[key] = current[key]
            problems = self.validate(trial)
            if problems:
                why = problems.get(key) or "; ".join(f"{k}: {v}" for k, v in problems.items())
                self._reject(key, current[key], why)
            else:
                candidate = trial
                taken.append(key)
        if not taken:
            return set()
        try:
            self.apply(candidate, set(taken))
        except Exception as exc:
            for key in taken:
                self._reject(key, candidate[key], f"the device refused it: {exc}")
            return set()
        self.accepted = candidate
        done = ", ".join(f"{key} = {candidate[key]!r}" for key in taken)
        self.client.msg(f"{self.label}: applied {done}")
        return set(taken)

    def _reject(self, key: str, value: Any, why: str) -> None:
        old = self.accepted[key]
        self.client.msg(
            f"{self.label}: Settings/{key} = {value!r} rejected ({why}); keeping {old!r}",
            is_error=True,
        )
        self.client.odb_set(f"{self.settings_dir}/{key}", old)
