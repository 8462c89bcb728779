"""Analyzer parameters: the ODB template equals the code defaults; every bad value is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cygno_mw.analyzers.odb_template import analyzer_template, template_text
from cygno_mw.analyzers.output_params import OutputParams, resolve_output
from cygno_mw.analyzers.parameters import AnalyzerParameters, load_parameters, parse_override
from cygno_mw.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parent.parent / "odb_templates" / "analyzer.json"


def test_template_file_equals_code_defaults() -> None:
    on_disk = json.loads(TEMPLATE.read_text())
    assert on_disk == analyzer_template(), (
        "odb_templates/analyzer.json is stale: run "
        ".venv/bin/python -m cygno_mw.analyzers.odb_template")
    reco = on_disk["Analyzer"]["Parameters"]["Reco"]
    defaults = AnalyzerParameters.defaults().reco.to_mapping()
    assert {k: type(v) for k, v in reco.items()} == {k: type(v) for k, v in defaults.items()}
    assert TEMPLATE.read_text() == template_text()


def test_template_read_back_as_odb_gives_defaults() -> None:
    assert load_parameters(analyzer_template()) == AnalyzerParameters.defaults()


def test_layering_odb_then_file_then_set(tmp_path: Path) -> None:
    odb = {"Analyzer": {"Parameters": {"Reco": {"nsigma": 0.9, "eps": "10"},
                                       "Output": {"reco_file_format": "root"}}}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"Reco": {"eps": 14}, "Output": {"s3_prefix": "test"}}))
    params = load_parameters(odb, config, ["reco.eps=16", "Output/s3_prefix=2024"])
    assert params.reco.nsigma == 0.9 and params.reco.eps == 16.0
    assert params.output.reco_file_format == "root"
    assert params.output.s3_prefix == "2024"  # output values stay strings


@pytest.mark.parametrize(("overrides", "message"), [
    (["reco.nsigma=-1"], "--set reco.nsigma=-1: reco parameter 'nsigma' = -1.0: must be >= 0"),
    (["reco.eps=abc"], "--set reco.eps=abc: reco parameter 'eps': not a number: 'abc'"),
    (["reco.nope=1"], "--set reco.nope=1: unknown reco parameter(s): nope"),
    (["nsigma=1"], "expected SECTION.KEY=VALUE"),
    (["gpu.nsigma=1"], "unknown parameter section 'gpu'"),
    (["output.reco_file_format=csv"], "'csv' is not one of parquet, root, none"),
    (["output.database_url=mysql://u:secret@db/cygno"], "must not contain a password"),
    (["output.influx_url=influx.example"], "is not an http(s) URL"),
])
def test_set_messages_name_the_value(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_parameters(None, None, overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not valid JSON"),
    ("[1, 2]", "expected an object with sections"),
    ('{"Reco": 3}', "section 'Reco' must be an object"),
    ('{"Rco": {}}', "unknown parameter section 'Rco'"),
    ('{"Reco": {"rebin": 2.5}}', "reco parameter 'rebin': expected an integer, got 2.5"),
    ('{"Output": {"s3_bucket": "Bad_Bucket"}}', "is not a valid bucket name"),
])
def test_config_file_messages(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_parameters(None, path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_parameters(None, tmp_path / "nope.json")


def test_odb_errors_name_the_odb_path() -> None:
    odb = {"Analyzer": {"Parameters": {"Reco": {"backend": "tpu"}}}}
    with pytest.raises(ConfigError, match="ODB /Analyzer/Parameters/Reco: reco parameter "
                                          "'backend'"):
        load_parameters(odb)


def test_set_repairs_a_bad_odb_value(tmp_path: Path) -> None:
    odb = {"Analyzer": {"Parameters": {"Reco": {"backend": "tpu", "xmin": 500},
                                       "Output": {"reco_file_format": "csv"}}}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"Reco": {"xmax": 400}}))
    params = load_parameters(odb, config, ["reco.backend=numpy", "reco.xmin=100",
                                           "output.reco_file_format=root"])
    assert params.reco.backend == "numpy"
    assert (params.reco.xmin, params.reco.xmax) == (100, 400)
    assert params.output.reco_file_format == "root"


def test_merged_errors_name_every_layer_involved(tmp_path: Path) -> None:
    odb = {"Analyzer": {"Parameters": {"Reco": {"xmin": 500}}}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"Reco": {"xmax": 400}}))
    with pytest.raises(ConfigError) as error:
        load_parameters(odb, config)
    message = str(error.value)
    assert message.startswith(f"ODB /Analyzer/Parameters/Reco and config file {config}: ")
    assert "reco parameter 'xmax' = 400: must be > xmin (500)" in message
    with pytest.raises(ConfigError, match=r"^--set reco.nsigma=-2: reco parameter 'nsigma'"):
        load_parameters(odb, config, ["reco.xmin=0", "reco.nsigma=-2"])


def test_parse_override_types() -> None:
    assert parse_override("reco.directional=false") == ("reco", "directional", False)
    assert parse_override("Reco/nsigma=0.7") == ("Reco", "nsigma", 0.7)
    assert parse_override("output.s3_bucket=123") == ("output", "s3_bucket", "123")


def test_output_folder_moves_the_default_database(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    assert resolve_output(OutputParams(), None).database_url == \
        "sqlite:///cygno-out/cygno.sqlite"
    moved = resolve_output(OutputParams(), tmp_path)
    assert moved.output_dir == str(tmp_path)
    assert moved.database_url == f"sqlite:///{tmp_path}/cygno.sqlite"
    configured = OutputParams(database_url="mysql+mysqlconnector://cygno@db/cygno")
    assert resolve_output(configured, tmp_path).database_url == configured.database_url
    monkeypatch.setenv("CYGNO_DB_URL", "sqlite:////elsewhere/db.sqlite")
    assert resolve_output(OutputParams(), tmp_path).database_url == \
        "sqlite:////elsewhere/db.sqlite"
