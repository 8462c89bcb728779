"""Queries that say what they read: a missing pass or run is named, one signature shape for
every table query, `--db` everywhere (plain SQLite paths too), the default database is
announced, and bad limits, huge numbers, legacy passes and broken URLs give one line
(issues 24 and 27)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import sqlalchemy as sa

from cygno_mw.analyzers.outputs.database import create_db_engine
from cygno_mw.analyzers.outputs.errors import FilterError, OutputError
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

SMALL = ["--set", "reco.xmax=512", "--set", "reco.ymin=0", "--set", "reco.ymax=512",
         "--set", "reco.backend=numpy"]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vocab")
    pedestal = simulate_run(folder / "run00001.mid.lz4", 1, 3, pedestal=True,
                            shape=(512, 512), with_pmt=False)
    physics = simulate_run(folder / "run00002.mid.lz4", 2, 3, shape=(512, 512),
                           with_pmt=False, mix=SignalMix(fe55=4, muon=1, nr=0, er=0))
    target = folder / "out"
    # --db with a plain path (replay's --db was taken as --db-wait)
    assert main(["replay", "-q", "-o", str(target), "--db", str(target / "cygno.sqlite"),
                 *SMALL, str(pedestal.path), str(physics.path)]) == 0
    return target


def test_missing_pass_is_an_error_naming_the_passes(out: Path) -> None:
    with Database(str(out / "cygno.sqlite")) as db:  # a plain path, as --db takes it
        assert len(db.reco(2)) > 0
        with pytest.raises(OutputError, match=r"no pass 'nsigma07'.*passes: replay"):
            db.reco(2, pass_="nsigma07")


def test_sql_reco_of_a_missing_run_says_so(out: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "reco", "99", "--db", str(out / "cygno.sqlite")]) == 1
    captured = capsys.readouterr()
    assert "run 99 is not in the database" in captured.err


def test_one_signature_shape() -> None:
    """Every table query takes `runs` (one or several) and `pass_` where passes apply."""
    for name in ("runs", "reco", "macro", "pmt", "pedestals", "pass_runs", "attempts"):
        parameters = inspect.signature(getattr(Database, name)).parameters
        assert list(parameters)[1] == "runs", name
        assert "run" not in parameters and "passes_" not in parameters, name
    for name in ("reco", "macro", "pmt", "pass_runs"):
        assert "pass_" in inspect.signature(getattr(Database, name)).parameters
    assert "runs" in inspect.signature(Database.slow_control).parameters


def test_sql_and_plot_announce_the_database_they_chose(
        out: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    monkeypatch.delenv("CYGNO_MW_HOME", raising=False)
    (out.parent / "cygno-out").symlink_to(out)
    below = out.parent / "notebooks" / "deeper"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    assert main(["sql", "runs"]) == 0
    err = capsys.readouterr().err
    assert "cygno-out" in err and "nearest cygno-out above" in err
    assert main(["plot", "trend", "2", "-o", str(out / "t.png")]) == 0
    err = capsys.readouterr().err
    assert "cygno-mw plot:" in err and "nearest cygno-out above" in err


def test_negative_limit_and_huge_numbers_are_refused(out: Path) -> None:
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        with pytest.raises(FilterError, match="negative"):
            db.runs(limit=-1)
        with pytest.raises(FilterError, match="range of a double"):
            db.reco(2, where="sc_integral > 1e999")


@pytest.mark.parametrize("url", ["mysql+mysqlconnector://u@[::1:5/db", "not a url"])
def test_malformed_url_is_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "passes", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "not a valid database URL" in err and err.count("\n") == 1


def test_legacy_pass_without_parameters(out: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A database upgraded from the first release: its `legacy` pass has NULL parameters."""
    import shutil

    copy = tmp_path / "legacy.sqlite"
    shutil.copy(out / "cygno.sqlite", copy)
    engine = create_db_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO passes (pass_name, status, started_at) "
                             "VALUES ('legacy', 'finished', '2020-01-01 00:00:00')"))
    engine.dispose()
    with Database(f"sqlite:///{copy}") as db:
        assert set(db.passes()["pass_name"]) == {"legacy", "replay"}
    assert main(["sql", "passes", "--db", str(copy)]) == 0
    assert "legacy" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["replay", "run00002.mid"], ["reprocess", "2"], ["sql", "runs"], ["sql", "reco", "2"],
    ["sql", "macro"], ["sql", "sc"], ["sql", "pedestals"], ["sql", "passes"],
    ["sql", "compare", "a", "b"], ["sql", "upgrade"], ["sql", "import-runlog", "x.csv"],
    ["plot", "spectrum", "2"], ["plot", "trend", "2"], ["plot", "event", "run00002.mid"],
    ["plot", "pedestal", "1"],
])
def test_every_command_that_touches_the_database_takes_db(argv: list[str]) -> None:
    """`--db` everywhere, and never taken for another option (replay's was `--db-wait`)."""
    from cygno_mw.cli import build_parser

    args = build_parser().parse_args([*argv, "--db", "cygno-out/cygno.sqlite"])
    assert args.db == "cygno-out/cygno.sqlite"
    if argv[0] == "replay":
        assert args.db_wait == 60.0


def test_pmt_columns_have_one_numeric_dtype_whatever_the_filter(tmp_path: Path) -> None:
    """`pmt_wf_sampling` (and every integer column) comes back numeric, never `object`,
    whether the rows are peaks, waveforms or both."""
    from test_pmt_table import _event_rows

    from cygno_mw.analyzers.outputs.sql_writer import SqlSink

    url = f"sqlite:///{tmp_path / 'pmt.sqlite'}"
    with SqlSink(url, pass_name="p") as sink:
        sink.begin_run(5)
        sink.write_pmt(5, 0, _event_rows(3))
    with Database(url) as db:
        for peaks in (True, False, None):
            frame = db.pmt(5, peaks=peaks, pass_="p")
            assert len(frame) > 0
            for column in ("pmt_wf_sampling", "pmt_wf_nPeaks", "pmt_peak_Number"):
                assert frame[column].dtype.kind in "if", (peaks, column, frame[column].dtype)


def test_password_stored_before_redaction_is_never_shown(out: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """A pass written before parameters were redacted at the source keeps its database
    password in `passes.parameters`; `db.passes()` and `sql passes` still never show it."""
    import json
    import shutil

    secret = "OldStoredSecret42"
    copy = tmp_path / "old.sqlite"
    shutil.copy(out / "cygno.sqlite", copy)
    stored = json.dumps({"Output": {"database_url": f"mysql://cygno:{secret}@db/cygno"}})
    engine = create_db_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO passes (pass_name, status, started_at, parameters) "
                             "VALUES ('old', 'finished', '2020-01-01 00:00:00', :p)"),
                     {"p": stored})
    engine.dispose()
    with Database(f"sqlite:///{copy}") as db:
        frame = db.passes()
    assert secret not in frame.to_csv()
    for fmt in ("table", "csv", "json"):
        assert main(["sql", "passes", "--db", str(copy), "--format", fmt]) == 0
        assert secret not in capsys.readouterr().out
