"""SQL faults against a real MariaDB: a server dying mid-batch, unreachable at start, wrong
credentials, the on-disk spool while the database is down, LOCAL INFILE refused."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from test_outputs_sql import count, make_result

from cygno_mw.analyzers.outputs import database
from cygno_mw.analyzers.outputs.database import RetryPolicy
from cygno_mw.analyzers.outputs.errors import DatabaseAuthError, DatabaseUnavailableError
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.spool import SpoolingSqlSink
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.cli import main

pytestmark = pytest.mark.mariadb

PATIENT = RetryPolicy(attempts=30, initial_delay=0.1, max_delay=1.0)


class _OnFirstWarning(logging.Handler):
    """Runs `action` (once, in a thread) when the retry loop first logs that it will retry:
    the outage is then certain to have been seen, with no timing guesswork."""

    def __init__(self, action) -> None:
        super().__init__(logging.WARNING)
        self.action = action
        self.thread: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.thread is None and "retrying" in record.getMessage():
            self.thread = threading.Thread(target=self.action)
            self.thread.start()


def test_server_killed_mid_batch_is_retried_once(mariadb_server, mariadb_url) -> None:
    rng = np.random.default_rng(10)
    sink = SqlSink(mariadb_url, retry=PATIENT)
    _ = sink.engine  # connected and migrated before the fault
    results = [make_result(rng, 20) for _ in range(50)]
    for number, result in enumerate(results):
        sink.write_event(42, number, 0, result)
    restarter = threading.Thread(target=mariadb_server.start)
    fired = []

    def kill_during_reco_insert(conn, cursor, statement, parameters, context, many) -> None:
        if not fired and "reco" in statement and statement.lstrip().upper().startswith(
                ("LOAD DATA", "INSERT")):
            fired.append(statement)
            mariadb_server.kill()  # the server vanishes with the transaction half done
            restarter.start()

    event.listen(sink.engine, "before_cursor_execute", kill_during_reco_insert)
    try:
        assert sink.flush() == 50 * 20 + 50
    finally:
        event.remove(sink.engine, "before_cursor_execute", kill_during_reco_insert)
        if restarter.is_alive() or fired:
            restarter.join()
        sink.close()
    assert fired, "the fault was not injected"
    assert count(mariadb_url, "reco", "WHERE run = 42") == 1000
    assert count(mariadb_url, "macro", "WHERE run = 42") == 50
    stored = Database(mariadb_url).reco(42, event=7)
    assert stored["sc_length"].tolist() == results[7]["clusters"]["sc_length"].tolist()


def test_unreachable_at_start_is_a_clear_error_after_bounded_retries(caplog) -> None:
    url = "mysql+mysqlconnector://cygno@127.0.0.1:1/cygno"  # nothing listens on port 1
    sink = SqlSink(url, retry=RetryPolicy(attempts=3, initial_delay=0.01))
    with caplog.at_level(logging.WARNING), pytest.raises(DatabaseUnavailableError) as caught:
        _ = sink.engine
    assert "unreachable after 3 attempts" in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


def test_server_coming_up_during_retries(mariadb_server, mariadb_url) -> None:
    handler = _OnFirstWarning(mariadb_server.start)
    logging.getLogger(database.__name__).addHandler(handler)
    mariadb_server.stop()
    try:
        with SqlSink(mariadb_url, retry=PATIENT) as sink:
            sink.write_event(5, 0, 0, make_result(np.random.default_rng(0), 2))
    finally:
        logging.getLogger(database.__name__).removeHandler(handler)
        if handler.thread is not None:
            handler.thread.join()
        mariadb_server.start()
    assert handler.thread is not None, "the outage was not seen"
    assert count(mariadb_url, "reco") == 2


@pytest.fixture
def password_user(mariadb_server, mariadb_url):
    """A user 'cygno' with a password, allowed on the test database."""
    name = sa.make_url(mariadb_url).database
    secret = "Right-Pass-4u"
    mariadb_server.sql("DROP USER IF EXISTS 'cygno'@'127.0.0.1'; "
                       f"CREATE USER 'cygno'@'127.0.0.1' IDENTIFIED BY '{secret}'; "
                       f"GRANT ALL ON `{name}`.* TO 'cygno'@'127.0.0.1'")
    return mariadb_server.url(name, user="cygno"), secret


def test_wrong_password_is_clear_and_secret_free(password_user, monkeypatch, caplog,
                                                 capsys) -> None:
    url, _right = password_user
    wrong = "Wr0ng-S3cret-xyzzy"
    monkeypatch.setenv("CYGNO_DB_PASSWORD", wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(DatabaseAuthError) as caught:
        _ = SqlSink(url, retry=RetryPolicy(attempts=3, initial_delay=0.01)).engine
    message = str(caught.value)
    assert "refused the credentials" in message and "CYGNO_DB_PASSWORD" in message
    assert wrong not in message and wrong not in repr(caught.value)
    assert wrong not in caplog.text
    assert "retrying" not in caplog.text  # credentials do not get better by retrying

    # The same through the CLI, with the password in the URL itself.
    monkeypatch.delenv("CYGNO_DB_PASSWORD")
    in_url = url.replace("cygno@", f"cygno:{wrong}@")
    assert main(["sql", "runs", "--db", in_url]) == 1
    out, err = capsys.readouterr()
    assert "refused the credentials" in err
    assert wrong not in out + err + caplog.text


def test_password_from_file(password_user, monkeypatch, tmp_path) -> None:
    url, right = password_user
    secret_file = tmp_path / "db-password"
    secret_file.write_text(right + "\n")
    monkeypatch.setenv("CYGNO_DB_PASSWORD_FILE", str(secret_file))
    monkeypatch.delenv("CYGNO_DB_PASSWORD", raising=False)
    with SqlSink(url) as sink:
        sink.update_run(1, reco_status="done")
    assert Database(url).runs()["reco_status"].tolist() == ["done"]


def test_spool_keeps_batches_while_down_and_replays_in_order(mariadb_server, mariadb_url,
                                                             tmp_path) -> None:
    rng = np.random.default_rng(11)
    spool_dir = tmp_path / "spool"
    first, second = make_result(rng, 3), make_result(rng, 2, scale=2.0)
    mariadb_server.stop()
    try:
        sink = SpoolingSqlSink(mariadb_url, spool_dir=spool_dir)
        sink.write_event(9, 0, 0, first)
        sink.write_event(9, 1, 0, first)
        assert sink.flush() == 0  # no exception: the batch went to disk
        sink.write_event(9, 0, 0, second)  # event 0 again, newer result
        sink.write_slow_control([{"time": 1.7e9, "equipment": "Gas", "variable": "flow",
                                  "value": 1.0}])
        assert sink.flush() == 0
        assert sink.stats()["spooled_batches"] == 2
        sink.close()  # nothing lost by closing while down: the spool is on disk
    finally:
        mariadb_server.start()

    # A new sink (the analyzer restarted) replays the spool, oldest first.
    sink = SpoolingSqlSink(mariadb_url, spool_dir=spool_dir)
    assert sink.stats()["spooled_batches"] == 2
    sink.write_event(9, 2, 0, first)
    assert sink.flush() == (3 + 1) * 2 + (2 + 1) + 1 + (3 + 1)
    assert sink.stats()["spooled_batches"] == 0
    assert sink.stats()["replayed_batches"] == 2
    sink.close()
    reco = Database(mariadb_url).reco(9)
    assert reco.groupby("event").size().to_dict() == {0: 2, 1: 3, 2: 3}
    assert reco[reco.event == 0]["sc_xmean"].tolist() == second["clusters"]["sc_xmean"].tolist()
    assert count(mariadb_url, "slow_control") == 1


def test_spool_is_bounded(mariadb_server, mariadb_url, tmp_path) -> None:
    rng = np.random.default_rng(12)
    mariadb_server.stop()
    try:
        sink = SpoolingSqlSink(mariadb_url, spool_dir=tmp_path / "spool", max_spool_bytes=30_000)
        for number in range(6):
            sink.write_event(1, number, 0, make_result(rng, 50))
            sink.flush()
        stats = sink.stats()
        assert stats["spooled_batches"] >= 1 and stats["dropped_batches"] >= 1
        assert stats["spooled_bytes"] <= 30_000
        assert stats["dropped_rows"] == 51 * stats["dropped_batches"]
    finally:
        mariadb_server.start()
    assert sink.drain() == 51 * stats["spooled_batches"]
    sink.close()


def test_local_infile_refused_falls_back_to_executemany(mariadb_server, mariadb_url) -> None:
    mariadb_server.sql("SET GLOBAL local_infile = 0")
    try:
        with SqlSink(mariadb_url) as sink:
            sink.write_event(4, 0, 0, make_result(np.random.default_rng(13), 7))
            sink.flush()
            assert sink._bulk is None  # switched to executemany for good
    finally:
        mariadb_server.sql("SET GLOBAL local_infile = 1")
    assert count(mariadb_url, "reco") == 7
