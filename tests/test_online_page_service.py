"""The online analyzer's answers to the custom page (analyzers/online/jrpc.py), through the
MIDAS stand-in: the JSON-RPC callback the analyzer registers is called as mhttpd calls it;
the same page runs in Chromium on a real mhttpd in test_custom_page_live_midas.py."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas  # noqa: E402
from test_online_analyzer import crew as crew_fixture  # noqa: E402
from test_online_analyzer import make_analyzer, settle, take_run  # noqa: E402

from cygno_mw.analyzers.online.jrpc import RUNS_WAIT_S, PageService, _fit  # noqa: E402
from cygno_mw.analyzers.outputs.query import Database  # noqa: E402
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

SUCCESS = midas.status_codes["SUCCESS"]
crew = crew_fixture  # the stand-in experiment of test_online_analyzer.py


def ask(client_name: str, cmd: str, args: dict | str = "", max_len: int = 100_000) -> dict:
    """Call the analyzer's JSON-RPC callback as mhttpd's "jrpc" method does."""
    callback = standin.experiment().jrpc_callbacks[client_name]
    text = args if isinstance(args, str) else json.dumps(args)
    status, reply = callback(None, cmd, text, max_len)
    assert status == SUCCESS
    return json.loads(reply)


def test_the_page_gets_runs_pictures_and_boxes_from_the_analyzer(crew, tmp_path):
    fe = CameraFrontend(0)
    analyzer = make_analyzer(**{"Display interval s": 0.1})
    take_run(crew, fe, analyzer, 3, pedestal=True)
    settle(analyzer)
    take_run(crew, fe, analyzer, 3)
    settle(analyzer)

    runs = ask("Online Analyzer", "cygno_runs", {"limit": 5})["runs"]
    db_runs = Database(f"sqlite:///{tmp_path / 'cygno.sqlite'}").runs()
    assert [r["run"] for r in runs] == sorted(db_runs["run"], reverse=True) == [2, 1]
    assert runs[0]["reco_status"] == "done"
    assert runs[0]["reco_events"] == int(db_runs.set_index("run").loc[2, "reco_events"])
    assert [r["run"] for r in ask("Online Analyzer", "cygno_runs", {"limit": 1})["runs"]] == [2]

    cameras = ask("Online Analyzer", "cygno_display")["cameras"]
    shown = cameras["0"]
    display = crew.odb_get("/Analyzer/Display/Camera0")
    assert (shown["run"], shown["event"]) == (display["Run"], display["Event"])
    assert len(shown["clusters"]) == display["Clusters"]
    assert shown["url"] == "cygno_display_cam0.png"
    # mhttpd serves the picture through a hidden /Custom key naming its file
    assert crew.odb_get("/Custom/cygno_display_cam0.png!") == display["File"]
    assert Path(display["File"]).is_file()
    for box in shown["clusters"]:
        assert box["xmin"] <= box["xmax"] and box["ymin"] <= box["ymax"]

    # statistics also go to the equipment record mlogger keeps history of
    history = crew.odb_get("/Equipment/Online Analyzer")
    assert history["Common"]["Log history"] > 0
    assert history["Variables"]["Events analyzed"] == crew.odb_get(
        "/Analyzer/Reco/Statistics/Events analyzed")

    # errors come back as text for the page, never as an exception into MIDAS
    assert "unknown command" in ask("Online Analyzer", "nope")["error"]
    assert "error" in ask("Online Analyzer", "cygno_runs", "{not json")
    analyzer.close()


def test_a_failing_database_is_an_error_answer(tmp_path):
    service = PageService(lambda: f"sqlite:///{tmp_path / 'missing' / 'x.sqlite'}", dict)
    status, reply = service(None, "cygno_runs", "", 10_000)
    assert status == SUCCESS and "error" in json.loads(reply)


def test_answers_fit_the_callers_reply_length():
    runs = [{"run": n, "reco_status": "done"} for n in range(50)]
    fitted = json.loads(_fit({"runs": list(runs)}, 400))
    assert 0 < len(fitted["runs"]) < 50 and fitted["runs"] == runs[:len(fitted["runs"])]
    assert "error" in json.loads(_fit({"cameras": {"0": "x" * 500}}, 100))


@pytest.mark.parametrize("max_len", [40, 60, 200])
def test_error_answers_fit_the_callers_reply_length(tmp_path, max_len):
    """An error whose text is longer than MIDAS's reply buffer still arrives as valid JSON."""
    long_path = tmp_path / ("x" * 150) / "x.sqlite"
    service = PageService(lambda: f"sqlite:///{long_path}", dict)
    for cmd, args in (("cygno_runs", ""), ("cygno_" + "y" * 300, "")):
        status, reply = service(None, cmd, args, max_len)
        assert status == SUCCESS and len(reply) < max_len
        assert "error" in json.loads(reply)


def test_a_negative_limit_still_answers_runs(tmp_path):
    class Fixed(PageService):
        def runs(self, limit: int) -> list[dict]:
            return [{"run": n} for n in range(limit, 0, -1)]

    service = Fixed(lambda: "sqlite://", dict)
    assert service.recent_runs(-1) == {"runs": [{"run": 1}]}
    service.close()


class SlowDatabase(PageService):
    """A database that answers after `delay_s` (a server far away or down)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(lambda: "sqlite://", dict)
        self.delay_s = delay_s
        self.release = threading.Event()

    def runs(self, limit: int) -> list[dict]:
        self.release.wait(self.delay_s)
        return [{"run": 7, "reco_status": "done"}]


def test_a_slow_database_never_holds_the_midas_thread_long():
    """The callback runs in the MIDAS thread: it waits for SQL at most RUNS_WAIT_S (1 s),
    far less than this database's 30 s, then answers with what it has."""
    rows = [{"run": 7, "reco_status": "done"}]
    service = SlowDatabase(delay_s=30)
    started = time.monotonic()
    _, reply = service(None, "cygno_runs", "", 10_000)
    assert time.monotonic() - started < 10 * RUNS_WAIT_S
    assert "did not answer" in json.loads(reply)["error"]
    service.release.set()  # the database answers: the next request gets the rows
    assert service.recent_runs(10, wait_s=5) == {"runs": rows}
    service.release.clear()  # slow again: the last answer, marked stale
    assert service.recent_runs(10, wait_s=0.1) == {"runs": rows, "stale": True}
    service.release.set()
    service.close()
