"""A secret never appears in a message (issue 12, defect 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cygno_mw.cli import main
from cygno_mw.midasfile import MidasWriter
from cygno_mw.redact import RedactingFormatter, redact

PASSWORD = "S3cret-PW_42"


def test_refused_database_url_does_not_show_its_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"mysql+mysqlconnector://shift:{PASSWORD}@db.lngs.infn.it/cygno"
    run = tmp_path / "run00001.mid"
    with MidasWriter(run, 1, {"Runinfo": {"Run number": 1}}):
        pass
    status = main(["replay", "-o", str(tmp_path), "--set", f"output.database_url={url}",
                   str(run)])
    err = capsys.readouterr().err
    assert status == 2
    assert "must not contain a password" in err and "shift:***@db.lngs.infn.it" in err
    assert PASSWORD not in err


def test_query_errors_do_not_show_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["sql", "runs", "--db", f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert PASSWORD not in err
    with pytest.raises(SystemExit):  # argparse quotes a bad value in its usage error
        main(["sql", f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"])
    assert PASSWORD not in capsys.readouterr().err


@pytest.mark.parametrize("text", [
    f"mysql://u:{PASSWORD}@h/db", f"see http://a:{PASSWORD}@x.org/p and more",
    f"https://influx:8086/write?org=c&token={PASSWORD}", f"x?password={PASSWORD}&y=1"])
def test_redact(text: str) -> None:
    assert PASSWORD not in redact(text)
    assert "***" in redact(text)


def test_redacting_formatter() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "cannot reach %s",
                               (f"mysql://u:{PASSWORD}@h/db",), None)
    assert RedactingFormatter("%(message)s").format(record) == "cannot reach mysql://u:***@h/db"


def test_redact_hides_signatures_and_the_environments_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27, item 16: botocore's debug lines at -vv."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREDACTME27")
    signature = "0a1b2c3d" * 8
    lines = [f"Authorization: AWS4-HMAC-SHA256 Credential=AKIAREDACTME27/20261206/us-east-1/"
             f"s3/aws4_request, SignedHeaders=host, Signature={signature}",
             f"Signature:\n{signature}", f"'X-Amz-Signature': b'{signature}'",
             f"https://b.s3/k?X-Amz-Credential=AKIAREDACTME27%2F2026&X-Amz-Signature={signature}"]
    for line in lines:
        assert "AKIAREDACTME27" not in redact(line) and signature not in redact(line), line


def test_parameters_are_redacted_where_they_are_stored() -> None:
    from cygno_mw.redact import redact_parameters

    tree = {"Output": {"database_url": f"mysql+mysqlconnector://u:{PASSWORD}@h/db",
                       "other": [f"mysql://u@h/db?password={PASSWORD}", 3]}}
    assert PASSWORD not in str(redact_parameters(tree))
    assert redact_parameters(tree)["Output"]["database_url"] == "mysql+mysqlconnector://u:***@h/db"
