"""Hostile command-line input gives one line of error and exit status 2, never a traceback
(issue 12, defect 8).  Damaged begin-of-run dumps are refused, naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cygno_mw.analyzers.run_info import begin_of_run_fields
from cygno_mw.cli import main
from cygno_mw.midasfile.event import BOR_EVENT_ID, encode_event, encode_internal_event

HUGE = "9" * 30


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cygno.sqlite'}"
    assert main(["sql", "upgrade", "--db", url]) == 0
    return url


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        status = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


@pytest.mark.parametrize("args", [
    ["reco", "21", "--where", "(" * 660 + "event > 1" + ")" * 660],
    ["reco", "21", "--where", "not " * 60 + "event > 1"],
    ["reco", "21", "--where", f"event > {HUGE}"],
    ["reco", "21", "--limit", HUGE],
    ["reco", HUGE],
    ["reco", "21", "--camera", HUGE],
    ["runs", "--start", "not a time"],
    ["runs", "--stop", "2099-99-99"],
    ["import-runlog", "nothere.csv"],
])
def test_bad_query_input_is_one_line_and_exit_2(args: list[str], db: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(["sql", *args, "--db", db], capsys)
    assert status == 2
    assert err.strip().splitlines()[-1].startswith("cygno-mw sql")


def test_a_column_asked_twice_is_shown_once(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(["sql", "reco", "21", "--columns", "run,run", "--db", db], capsys)
    assert status == 1 and "run 21 is not in the database" in err  # (an empty database)


@pytest.mark.parametrize("url, hint", [
    ("foo://x", "unknown kind of database 'foo'"),
    ("mysql://u@127.0.0.1:1/x", "mysql+mysqlconnector://"),
    ("not a url", "not a valid database URL"),
    ("mysql+mysqlconnector://u@[::1:5/db", "not a valid database URL"),  # issue 27
    ("mysql+mysqlconnector://u:pw-27x@[::1:5/db", "not a valid database URL"),
])
def test_bad_database_urls(url: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["sql", "upgrade", "--db", url], ["sql", "runs", "--db", url]):
        status, err = _run(argv, capsys)
        assert status == 2 and hint in err and err.count("\n") == 1
        assert "pw-27x" not in err


def _file_with_bor(path: Path, payload: str) -> Path:
    event = encode_event(1, {"CAM0": np.zeros((4, 4), np.uint16)}, timestamp=1)
    path.write_bytes(encode_internal_event(BOR_EVENT_ID, payload, 7, timestamp=1) + event)
    return path


@pytest.mark.parametrize("payload, says", [
    ('{"a":' * 5000 + "1" + "}" * 5000, "nested"),
    ('{"a":' * 200 + "1" + "}" * 200, "nested"),
    ("[1,2,3]", "not an object"),
    ('{"Runinfo": ', "not valid JSON"),
])
def test_damaged_begin_of_run_dump(payload: str, says: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _file_with_bor(tmp_path / "run00007.mid", payload)
    for argv in (["dump", "--odb", "--json", str(path)],
                 ["replay", "-q", "-o", str(tmp_path / "out"), str(path)]):
        status, err = _run(argv, capsys)
        assert status == 1
        assert f"{path}: begin-of-run ODB dump" in err and says in err


def test_absurd_worker_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file_with_bor(tmp_path / "run00007.mid", '{"Runinfo": {"Run number": 7}}')
    status, err = _run(["replay", "-q", "-j", HUGE, str(path)], capsys)
    assert status == 2 and "-j must be" in err


def test_start_time_beyond_any_calendar_is_not_a_time() -> None:
    odb = {"Runinfo": {"Start time binary": 1e20}}
    assert "start_time" not in begin_of_run_fields(7, odb)
