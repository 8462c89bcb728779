"""The analyzer's parameters, read from the ODB paths both analyzers share.

Online they come from the live ODB; offline from the begin-of-run ODB dump inside the
file.  Either way the layering is: built-in defaults (the same values as
`odb_templates/analyzer.json`) < ODB < config file < `--set section.key=value`.  The layers
are merged first and validated once, so a later layer can repair a bad value of an earlier
one (a file's ODB with a typo is fixed with `--set`); an error names where its value came
from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.analyzers.waveform_params import PmtAnalysisParams
from cygno_mw.errors import ConfigError
from cygno_mw.gpu.params import RecoParams
from cygno_mw.midasfile.odbdump import odb_get
from cygno_mw.redact import redact

ODB_PARAMETERS = "/Analyzer/Parameters"
SECTIONS = ("Reco", "Output", "Pmt")


@dataclass(frozen=True)
class AnalyzerParameters:
    reco: RecoParams
    output: OutputParams
    pmt: PmtAnalysisParams = field(default_factory=PmtAnalysisParams)

    @classmethod
    def defaults(cls) -> AnalyzerParameters:
        return cls(RecoParams(), OutputParams(), PmtAnalysisParams())

    def to_odb(self) -> dict[str, dict[str, Any]]:
        """The `/Analyzer/Parameters` subtree these values make."""
        return {"Reco": self.reco.to_mapping(), "Output": self.output.to_mapping(),
                "Pmt": self.pmt.to_mapping()}

    def updated(self, section: str, values: Mapping[str, Any]) -> AnalyzerParameters:
        """A copy with some values of one section replaced; raises ConfigError if invalid."""
        name = section_name(section)
        current = self.to_odb()[name]
        built = _BUILDERS[name]({**current, **_strip_key_metadata(values)})
        if name == "Reco":
            return AnalyzerParameters(built, self.output, self.pmt)
        if name == "Pmt":
            return AnalyzerParameters(self.reco, self.output, built)
        return AnalyzerParameters(self.reco, built, self.pmt)


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "Reco": RecoParams.from_mapping,
    "Output": OutputParams.from_mapping,
    "Pmt": PmtAnalysisParams.from_mapping,
}


def section_name(section: str) -> str:
    """'reco', 'Reco' → 'Reco'; ConfigError for anything else."""
    for name in SECTIONS:
        if section.strip().lower() == name.lower():
            return name
    raise ConfigError(f"unknown parameter section {section!r} (known: {', '.join(SECTIONS)})")


class _Layers:
    """Values of every layer merged per section, each remembering which layer set it."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        self.sources: dict[str, dict[str, str]] = {name: {} for name in SECTIONS}

    def add(self, section: str, values: Mapping[str, Any], source: str) -> None:
        name = section_name(section)
        for key, value in _strip_key_metadata(values).items():
            self.values[name][key] = value
            self.sources[name][key] = source

    def build(self) -> AnalyzerParameters:
        defaults = AnalyzerParameters.defaults().to_odb()
        built = {name: self._build(name, defaults[name]) for name in SECTIONS}
        return AnalyzerParameters(built["Reco"], built["Output"], built["Pmt"])

    def _build(self, name: str, defaults: dict[str, Any]) -> Any:
        values = self.values[name]
        try:
            return _BUILDERS[name]({**defaults, **values})
        except ConfigError as exc:
            error = str(exc)
            culprits = [key for key in values
                        if _error_of(name, {**defaults, **_without(values, key)}) != error]
            sources = dict.fromkeys(self.sources[name][key] for key in culprits)
            where = " and ".join(sources) or "parameters"
            raise ConfigError(f"{where}: {error}") from None


def _error_of(name: str, values: Mapping[str, Any]) -> str | None:
    try:
        _BUILDERS[name](values)
    except ConfigError as exc:
        return str(exc)
    return None


def _without(values: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != key}


def load_parameters(
    odb: Mapping[str, Any] | None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> AnalyzerParameters:
    """Parameters for one run: ODB, then a JSON config file, then `--set` overrides."""
    layers = _Layers()
    for section in SECTIONS if odb else ():
        values = odb_get(odb, f"{ODB_PARAMETERS}/{section}", None)
        if isinstance(values, Mapping) and values:
            layers.add(section, values, f"ODB {ODB_PARAMETERS}/{section}")
    if config_file is not None:
        _add_config_file(layers, config_file)
    for item in overrides:
        section, key, value = parse_override(item)
        try:
            layers.add(section, {key: value}, f"--set {redact(item)}")
        except ConfigError as exc:
            raise ConfigError(f"--set {redact(item)}: {exc}") from None
    return layers.build()


def _add_config_file(layers: _Layers, path: str | Path) -> None:
    """A JSON file shaped like the ODB subtree: {"Reco": {...}, "Output": {...}}."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(content, dict):
        raise ConfigError(f"config file {path}: expected an object with sections {SECTIONS}")
    for section, values in content.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: section {section!r} must be an object")
        try:
            layers.add(section, values, f"config file {path}")
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None


def parse_override(item: str) -> tuple[str, str, Any]:
    """`reco.nsigma=0.7` or `Reco/nsigma=0.7` → ("reco", "nsigma", 0.7).

    Output values are all strings, so they stay as typed (`output.s3_prefix=2024`)."""
    name, sep, raw = item.partition("=")
    section, dot, key = name.replace("/", ".").partition(".")
    if not sep or not dot or not key:
        raise ConfigError(
            f"--set {redact(item)!r}: expected SECTION.KEY=VALUE, e.g. reco.nsigma=0.7")
    if section.strip().lower() == "output":
        return section.strip(), key.strip(), raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return section.strip(), key.strip(), value


def _strip_key_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON ODB dumps carry `<name>/key` type entries beside each value: drop them."""
    return {k: v for k, v in values.items() if not k.endswith("/key")}
