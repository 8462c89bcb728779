"""Which processing pass a picture shows, and the words that say so on it.

Every plot of results draws one pass: the one asked for (`--pass`), else the runs' default
pass (their best finished one) when all runs share it. The title names the pass and the
parameters that made it, read from its `passes` row (what made these clusters), never from
today's ODB or the run file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cygno_mw.errors import CygnoError, UsageError

# Reco parameters a title shows (the ones a physicist changes between passes)
TITLE_PARAMETERS = ("nsigma", "rebin", "vignette_map")


@dataclass(frozen=True)
class PassShown:
    """The pass a picture draws and its Reco parameters (from the `passes` row)."""

    name: str
    reco: Mapping[str, Any]

    def title(self) -> str:
        """`pass replay: nsigma 0.6, rebin 4, vignette_map builtin`."""
        shown = [f"{key} {self.reco[key]}" for key in TITLE_PARAMETERS if key in self.reco]
        what = ", ".join(shown) if shown else "parameters not recorded"
        return f"pass {self.name}: {what}"


def pass_shown(db: Any, runs: Sequence[int], pass_: str | None) -> PassShown:
    """The pass to draw for `runs`: `pass_`, else their common default pass (an error when
    the runs' default passes differ, or no pass covers them)."""
    if pass_ is None:
        chosen = db.default_passes([int(r) for r in runs])
        names = sorted(set(chosen.values()))
        if not names:
            raise CygnoError(f"no pass covers run{'s' if len(runs) > 1 else ''} "
                             f"{', '.join(str(r) for r in runs)}: replay them first")
        if len(names) > 1:
            detail = ", ".join(f"run {run}: {name}" for run, name in sorted(chosen.items()))
            raise UsageError(f"the runs' default passes differ ({detail}); choose one with "
                             "--pass NAME")
        pass_ = names[0]
    rows = db.passes(pass_)
    if rows.empty:  # rows of a pass that was never registered: no parameters to show
        if db.pass_runs(pass_=pass_).empty:
            known = sorted(set(db.passes()["pass_name"]) | set(db.pass_runs()["pass_name"]))
            raise CygnoError(f"no pass {pass_!r} in the database; its passes: "
                             f"{', '.join(known) if known else 'none yet'}")
        return PassShown(str(pass_), {})
    return PassShown(str(pass_), reco_parameters(rows.iloc[0].get("parameters")))


def reco_parameters(parameters: Any) -> dict[str, Any]:
    """The Reco section of a `passes.parameters` JSON text ({} when none was recorded)."""
    if not isinstance(parameters, str):
        return {}
    try:
        reco = json.loads(parameters).get("Reco", {})
    except (ValueError, AttributeError):
        return {}
    return dict(reco) if isinstance(reco, Mapping) else {}
