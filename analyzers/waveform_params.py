"""PMT analysis settings: the `/Analyzer/Parameters/Pmt` ODB subtree.

One set of waveform parameters per digitizer kind, because the boards differ: the fast V1742
(1024 samples at 750 MS/s; the experiment takes 100 samples for the baseline) and the slow
V1720 (4000 samples at 250 MS/s; 400 for the baseline).  Fast-board values are `fast_*`,
slow-board values `slow_*`; the defaults are the experiment's LIME settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cygno_mw.errors import ConfigError, UsageError
from cygno_mw.gpu.pmt_waveforms import PmtParams

_BOARD_FIELDS = ("baseline_samples", "moving_average", "height_rms", "prominence",
                 "fixed_prominence", "min_width", "sample_ns")


@dataclass(frozen=True)
class PmtAnalysisParams:
    """Which channels are analysed, where the DRS4 tables are, and each board's settings."""

    enabled: bool = True
    channels: str = "1,2,3,4"  # the PMTs' channels on both boards (the experiment's)
    drs4_tables: str = ""  # directory of table_cell_<site>.npy; "" = built-in (simulation)
    drs4_site: str = "LNGS"
    fast_baseline_samples: int = 100
    fast_moving_average: int = 5
    fast_height_rms: float = 5.0
    fast_prominence: float = 0.1
    fast_fixed_prominence: bool = True
    fast_min_width: float = 5.0
    fast_sample_ns: float = 1000.0 / 750.0
    slow_baseline_samples: int = 400
    slow_moving_average: int = 5
    slow_height_rms: float = 5.0
    slow_prominence: float = 0.1
    slow_fixed_prominence: bool = True
    slow_min_width: float = 5.0
    slow_sample_ns: float = 4.0

    @property
    def channel_list(self) -> list[int]:
        return [int(c) for c in self.channels.replace(" ", "").split(",") if c]

    def board(self, kind: str) -> PmtParams:
        """PmtParams of the 'fast' or 'slow' board."""
        values = {name: getattr(self, f"{kind}_{name}") for name in _BOARD_FIELDS}
        return PmtParams(**values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PmtAnalysisParams:
        """Validate ODB-style values (keys as in the ODB, case-insensitive)."""
        fields = {f.name.lower(): f for f in dataclasses.fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key.endswith("/key"):
                continue
            spec = fields.get(key.lower().replace(" ", "_"))
            if spec is None:
                raise ConfigError(f"Pmt: unknown parameter {key!r} (known: {sorted(fields)})")
            clean[spec.name] = _typed(spec.name, spec.type, value)
        params = dataclasses.replace(cls(), **clean)
        params.validate()
        return params

    def to_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        try:
            channels = self.channel_list
        except ValueError:
            raise ConfigError(f"Pmt/channels: {self.channels!r} is not a comma-separated "
                              "list of channel numbers") from None
        if any(c < 0 for c in channels):
            raise ConfigError(f"Pmt/channels: {self.channels!r} has negative channels")
        for kind in ("fast", "slow"):
            try:
                self.board(kind)
            except UsageError as exc:
                raise ConfigError(f"Pmt/{kind}_*: {exc}") from None


def _typed(name: str, kind: Any, value: Any) -> Any:
    kind = {"bool": bool, "int": int, "float": float, "str": str}.get(str(kind), kind)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0",
                                                                 "yes", "no", "y", "n"):
            return value.strip().lower() in ("true", "1", "yes", "y")
        raise ConfigError(f"Pmt/{name}: expected true or false, got {value!r}")
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"Pmt/{name}: expected a string, got {value!r}")
        return value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Pmt/{name}: expected a number, got {value!r}") from None
    if kind is int:
        if number != int(number):
            raise ConfigError(f"Pmt/{name}: expected a whole number, got {value!r}")
        return int(number)
    return number
