"""The command line as a new user meets it: log flags anywhere, quiet libraries, clear errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cygno_mw.cli import build_parser, log_level, main


@pytest.mark.parametrize(("argv", "level"), [
    (["sql", "runs"], logging.WARNING),
    (["sql", "runs", "-v"], logging.INFO),
    (["-v", "sql", "runs"], logging.INFO),
    (["plot", "trend", "2", "-vv"], logging.DEBUG),
    (["sql", "reco", "2", "-q"], logging.ERROR),
    (["-q", "replay", "x.mid"], logging.ERROR),
    (["replay", "-q", "x.mid"], logging.ERROR),
    (["dump", "x.mid", "-v"], logging.INFO),
])
def test_log_flags_before_or_after_the_subcommand(argv, level, monkeypatch) -> None:
    monkeypatch.delenv("CYGNO_MW_LOG_LEVEL", raising=False)
    args = build_parser().parse_args(argv)
    if getattr(args, "log_quiet", False) and hasattr(args, "quiet"):
        args.quiet = True
    assert log_level(args) == level


def test_log_level_from_the_environment(monkeypatch, capsys) -> None:
    args = build_parser().parse_args(["sql", "runs"])
    monkeypatch.setenv("CYGNO_MW_LOG_LEVEL", "info")
    assert log_level(args) == logging.INFO
    monkeypatch.setenv("CYGNO_MW_LOG_LEVEL", "10")
    assert log_level(args) == logging.DEBUG
    monkeypatch.setenv("CYGNO_MW_LOG_LEVEL", "loud")
    assert log_level(args) == logging.WARNING
    assert "is not a log level" in capsys.readouterr().err
    assert log_level(build_parser().parse_args(["sql", "runs", "-v"])) == logging.INFO


def test_library_info_lines_stay_out(tmp_path: Path) -> None:
    """Creating a database runs Alembic's migrations; its INFO lines show only from -vv."""
    def upgrade(*flags: str) -> str:
        url = f"sqlite:///{tmp_path / f'db{len(flags)}.sqlite'}"
        done = subprocess.run([sys.executable, "-m", "cygno_mw", *flags, "sql", "upgrade",
                               "--db", url], capture_output=True, text=True, check=True)
        return done.stdout + done.stderr

    assert "alembic" not in upgrade()
    assert "alembic" not in upgrade("-v")
    assert "alembic" in upgrade("-vv")


def test_sql_help_shows_examples_for_each_table(capsys) -> None:
    from cygno_mw.cli.sql import EXAMPLES

    for table in EXAMPLES:
        with pytest.raises(SystemExit):
            main(["sql", table, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and f"cygno-mw sql {table}" in text


def test_dump_of_a_folder_says_it_is_a_folder(tmp_path: Path, capsys) -> None:
    assert main(["dump", str(tmp_path)]) == 1
    assert "is a folder: give a MIDAS file" in capsys.readouterr().err


def test_cygno_mw_home_moves_the_embedded_default(tmp_path: Path, monkeypatch) -> None:
    from cygno_mw.analyzers.output_params import OutputParams, resolve_output
    from cygno_mw.analyzers.outputs.database import default_url

    monkeypatch.delenv("CYGNO_DB_URL", raising=False)
    monkeypatch.delenv("CYGNO_MW_HOME", raising=False)
    assert resolve_output(OutputParams(), None).output_dir == "cygno-out"
    assert default_url() == "sqlite:///cygno-out/cygno.sqlite"
    monkeypatch.setenv("CYGNO_MW_HOME", str(tmp_path / "home"))
    output = resolve_output(OutputParams(), None)
    assert output.output_dir == str(tmp_path / "home")
    assert output.database_url == f"sqlite:///{tmp_path / 'home' / 'cygno.sqlite'}"
    assert default_url() == output.database_url
    assert resolve_output(OutputParams(), tmp_path / "o").output_dir == str(tmp_path / "o")
