"""The query library and `cygno-mw sql`: DataFrames, the safe filter language, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_outputs_sql import count, make_result

from cygno_mw.analyzers.outputs import schema
from cygno_mw.analyzers.outputs.errors import FilterError
from cygno_mw.analyzers.outputs.filters import parse_filter
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.cli import main


@pytest.fixture
def filled(sql_url: str) -> str:
    """A database with 2 runs x 5 events x 4 clusters and a little slow control."""
    rng = np.random.default_rng(20)
    with SqlSink(sql_url) as sink:
        for run in (100, 101):
            for number in range(5):
                result = make_result(rng, 4)
                result["clusters"]["sc_integral"] = np.array([500.0, 1500.0, 2500.0, 3500.0])
                result["clusters"]["sc_length"] = np.array([10.0, 40.0, 60.0, 20.0])
                sink.write_event(run, number, 0, result, time=1.7e9 + 60 * number,
                                 backend="cupy" if run == 101 else "numpy")
        sink.write_slow_control([{"time": 1.7e9 + i, "equipment": "Gas", "variable": "flow",
                                  "value": float(i)} for i in range(5)])
        sink.write_runs([{"run": 100, "description": "it's a 'quoted' run; --"}])
    return sql_url


def test_reco_filter(filled: str) -> None:
    db = Database(filled)
    frame = db.reco(100, where="sc_integral > 1000 and sc_length < 50")
    assert sorted(set(frame["sc_integral"])) == [1500.0, 3500.0]
    assert len(frame) == 10
    both = db.reco(runs=[100, 101], where="(sc_length between 15 and 45) and not event = 0")
    assert len(both) == 2 * 4 * 2
    assert len(db.reco(100, where="sc_integral in (500, 2500)")) == 10
    assert len(db.reco(100, where="sc_length >= sc_integral")) == 0  # column vs column
    assert list(db.reco(100, columns=["event", "sc_integral"], limit=3).columns) == [
        "event", "sc_integral"]


def test_macro_runs_and_time_filters(filled: str) -> None:
    db = Database(filled)
    assert len(db.macro([100, 101])) == 10
    assert len(db.macro(101, where="backend = 'cupy'")) == 5
    assert len(db.macro(where="time >= '2023-11-14 22:15:20'")) == 2 * 3
    assert len(db.macro(where="pedestal_mean is null")) == 10
    runs = db.runs(where="description = 'it''s a ''quoted'' run; --'")
    assert runs["run"].tolist() == [100]


INJECTIONS = [
    "sc_integral > 0; DROP TABLE reco",
    "sc_integral > 0 -- comment",
    "sc_integral > 0 /* c */",
    "sc_integral > 0 or 1=1",
    "1 = 1",
    "sc_integral > (SELECT 1)",
    "sc_integral > 0) or (1=1",
    "sc_integral > 0 union select * from runs",
    "sleep(5) = 0",
    "`run` > 0",
    "run > 0 or description = 'x'' or ''1''=''1'",
    "sc_integral > 'abc'",
    "sc_integral >",
    "and",
    "   ",
]


@pytest.mark.parametrize("where", INJECTIONS)
def test_filters_cannot_inject_sql(filled: str, where: str) -> None:
    db = Database(filled)
    with pytest.raises(FilterError):
        db.reco(100, where=where)
    assert count(filled, "reco") == 40  # nothing dropped, nothing changed


def test_quotes_in_filter_values_stay_values() -> None:
    """A quoted value that looks like SQL is one bound parameter, never SQL text."""
    condition = parse_filter("backend = 'x'' or ''1''=''1'", schema.macro)
    compiled = condition.compile()
    assert "or" not in str(compiled).lower()
    assert list(compiled.params.values()) == ["x' or '1'='1"]


def test_slow_control_and_pedestal_queries(filled: str) -> None:
    db = Database(filled)
    flow = db.slow_control("flow", 1.7e9 + 1, 1.7e9 + 3)
    assert flow["value"].tolist() == [1.0, 2.0]
    assert db.slow_control("nothing").empty
    assert db.pedestals().empty


def test_cli_formats(filled: str, capsys) -> None:
    assert main(["sql", "reco", "100", "--db", filled, "--where", "sc_integral > 3000",
                 "--columns", "run,event,sc_integral", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and {r["sc_integral"] for r in rows} == {3500.0}
    assert main(["sql", "macro", "101", "--db", filled, "--format", "csv",
                 "--columns", "run,event,backend"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "run,event,backend" and lines[1] == "101,0,cupy" and len(lines) == 6
    assert main(["sql", "sc", "flow", "--db", filled]) == 0
    assert "flow" in capsys.readouterr().out
    assert main(["sql", "pedestals", "--db", filled]) == 0
    assert "(no rows)" in capsys.readouterr().out
    assert main(["sql", "runs", "--db", filled, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run"] == 100


def test_cli_errors_are_messages(filled: str, capsys, tmp_path, monkeypatch) -> None:
    assert main(["sql", "reco", "100", "--db", filled, "--where", "x; drop table reco"]) == 2
    assert "filter" in capsys.readouterr().err
    missing = tmp_path / "none.sqlite"
    assert main(["sql", "runs", "--db", f"sqlite:///{missing}"]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()  # reading never creates an empty database
    monkeypatch.setenv("CYGNO_DB_URL", filled)
    assert main(["sql", "runs", "--format", "csv"]) == 0  # URL from the environment
    assert capsys.readouterr().out.startswith("run,")


def test_cli_upgrade_and_runlog_import(tmp_path, shared_data, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'cygno.sqlite'}"
    assert main(["sql", "upgrade", "--db", url]) == 0
    from cygno_mw.analyzers.outputs import migrate

    assert f"schema at version {migrate.head_revision()}" in capsys.readouterr().out
    csv_path = shared_data / "runlog_lime_lngs_sample.csv"
    assert main(["sql", "import-runlog", str(csv_path), "--db", url]) == 0
    assert main(["sql", "import-runlog", str(csv_path), "--db", url]) == 0  # idempotent
    assert count(url, "runs") == 252


def test_default_url_is_the_embedded_sqlite(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    with SqlSink() as sink:
        sink.update_run(1, reco_status="running")
    assert (tmp_path / "cygno-out" / "cygno.sqlite").is_file()
    assert Database().runs()["reco_status"].tolist() == ["running"]
