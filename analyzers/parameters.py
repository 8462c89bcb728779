"""The analyzer's parameters, read from the ODB paths both analyzers share.

Online they come from the live ODB; offline from the begin-of-run ODB dump inside the
file.  Either way the layering is: built-in defaults (the same values as
`odb_templates/analyzer.json`) < ODB < config file < `--set section.key=value`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.output_params import OutputParams
from cygno_mw.gpu.params import RecoParams

from cygno_mw.errors import ConfigError
from cygno_mw.midasfile.odbdump import odb_get

ODB_PARAMETERS = "/Analyzer/Parameters"
SECTIONS = ("Reco", "Output")


@dataclass(frozen=True)
class AnalyzerParameters:
    reco: RecoParams
    output: OutputParams

    @classmethod
    def defaults(cls) -> AnalyzerParameters:
        return cls(RecoParams(), OutputParams())

    def to_odb(self) -> dict[str, dict[str, Any]]:
        """The `/Analyzer/Parameters` subtree these values make."""
        return {"Reco": self.reco.to_mapping(), "Output": self.output.to_mapping()}

    def updated(self, section: str, values: Mapping[str, Any]) -> AnalyzerParameters:
        """A copy with some values of one section replaced; raises ConfigError if invalid."""
        if section.lower() == "reco":
            merged = {**self.reco.to_mapping(), **_strip_key_metadata(values)}
            return AnalyzerParameters(RecoParams.from_mapping(merged), self.output)
        if section.lower() == "output":
            merged = {**self.output.to_mapping(), **_strip_key_metadata(values)}
            return AnalyzerParameters(self.reco, OutputParams.from_mapping(merged))
        raise ConfigError(f"unknown parameter section {section!r} (known: {', '.join(SECTIONS)})")


def parameters_from_odb(odb: Mapping[str, Any] | None) -> AnalyzerParameters:
    """Defaults overlaid with whatever `/Analyzer/Parameters` holds in this ODB (or dump)."""
    params = AnalyzerParameters.defaults()
    if not odb:
        return params
    for section in SECTIONS:
        values = odb_get(odb, f"{ODB_PARAMETERS}/{section}", None)
        if isinstance(values, Mapping) and values:
            try:
                params = params.updated(section, values)
            except ConfigError as exc:
                raise ConfigError(f"ODB {ODB_PARAMETERS}/{section}: {exc}") from None
    return params


def load_parameters(
    odb: Mapping[str, Any] | None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> AnalyzerParameters:
    """Parameters for one run: ODB, then a JSON config file, then `--set` overrides."""
    params = parameters_from_odb(odb)
    if config_file is not None:
        params = apply_config_file(params, config_file)
    for item in overrides:
        section, key, value = parse_override(item)
        try:
            params = params.updated(section, {key: value})
        except ConfigError as exc:
            raise ConfigError(f"--set {item}: {exc}") from None
    return params


def apply_config_file(params: AnalyzerParameters, path: str | Path) -> AnalyzerParameters:
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
            params = params.updated(section, values)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    return params


def parse_override(item: str) -> tuple[str, str, Any]:
    """`reco.nsigma=0.7` or `Reco/nsigma=0.7` → ("reco", "nsigma", 0.7).

    Output values are all strings, so they stay as typed (`output.s3_prefix=2024`)."""
    name, sep, raw = item.partition("=")
    section, dot, key = name.replace("/", ".").partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. reco.nsigma=0.7")
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
