"""The CYGNO online custom page in headless Chromium on a live mhttpd, and MIDAS history of
the analyzer's statistics read back through mhttpd (marked `midas` and `chromium`).

A fresh experiment gets `cygno-mw odb install` (which registers the page under /Custom); a
camera frontend and the online analyzer run as their own processes; a pedestal run and a
physics run are taken.  Then the page is loaded as the shift crew opens it from the status
page's menu: every statistic shown must equal the ODB's value, the runs table the SQL rows,
the picture must load with one box per cluster the analyzer reports, and an ODB change (a
statistic, an alarm) must show within the page's refresh time.  The screenshot is written to
`$CYGNO_PAGE_SCREENSHOT` when set (docs/custom_page.png was made so), else to tmp_path.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_midas import start_program, stop_program, wait_for
from midas_experiment import live_experiment

pytestmark = [pytest.mark.midas, pytest.mark.chromium]

ANALYZER = "Online Analyzer"
STATISTICS = "/Analyzer/Reco/Statistics"
PAGE_REFRESH_S = 1.0  # mhttpd_init(..., 1000) in cygno_online.js
# element id on the page -> statistic, for the numbers compared with the ODB
SHOWN = {"stat-events-received": "Events received", "stat-events-analyzed": "Events analyzed",
         "stat-events-skipped": "Events skipped", "stat-events-dropped": "Events dropped",
         "stat-images": "Images reconstructed", "stat-clusters": "Clusters",
         "stat-rate": "Rate", "stat-latency-p50": "Latency p50 ms",
         "stat-latency-p99": "Latency p99 ms", "stat-backlog": "Backlog",
         "stat-output-backlog": "Output backlog", "stat-run": "Run"}


def install(tmp: Path) -> Any:
    def before_daemons(experiment: Any) -> None:
        from cygno_mw.odb_install import cygno_mw_command

        result = subprocess.run([*shlex.split(cygno_mw_command()), "odb", "install"],
                                env=experiment.env, cwd=experiment.directory,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        crew = experiment.crew
        crew.odb_set("/Equipment/Camera0/Settings", {
            "ROI width": 256, "ROI height": 256, "ROI x0": 1024, "ROI y0": 1024,
            "Sim mix": "fe55=300,muon=5", "Frame rate": 3.0, "Sim pool": 2},
            remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Parameters/Reco", {
            "xmax": 256, "ymin": 0, "ymax": 256, "backend": "numpy", "batch_size": 1,
            "vignette_map": "none"}, remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Parameters/Output", {
            "database_url": f"sqlite:///{tmp / 'cygno.sqlite'}", "output_dir": str(tmp / "out"),
            "reco_file_format": "none"}, remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Online", {"Event IDs": "10", "Statistics interval s": 0.5,
                                          "Display interval s": 0.5},
                     remove_unspecified_keys=False)
        crew.odb_set("/Analyzer/Monitor/Refresh s", 1.0)
        crew.odb_set("/Equipment/SlowControl0/Common/Period", 1000)  # ms: history within a run
    return before_daemons


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The experiment with the camera and the analyzer running, after two runs."""
    tmp = tmp_path_factory.mktemp("custom-page")
    with live_experiment(install(tmp)) as experiment:
        crew = experiment.crew
        camera = start_program(experiment, ["frontend", "camera", "-i", "0"],
                               "Camera Frontend 0", timeout=60)
        slow_control = start_program(experiment, ["frontend", "slow-control", "-i", "0"],
                                     "Slow Control Frontend 0", timeout=60)
        analyzer = start_program(experiment, ["analyzer", "online"], ANALYZER, timeout=60)
        try:
            runs = []
            for pedestal in (True, False):
                crew.odb_set("/Configurations/Pedestal", pedestal)
                crew.start_run()
                run = int(crew.odb_get("/Runinfo/Run number"))
                crew.wait(3.0)
                crew.stop_run()
                wait_for(lambda r=run: (crew.odb_get_or("/Analyzer/Reco/Last run") or {})
                         .get("Run") == r, 120, f"the analyzer to finish run {run}")
                runs.append(run)
            wait_for(lambda: crew.odb_get_or("/Analyzer/Display/Camera0/Run") == runs[-1], 30,
                     "the display of the physics run")
            yield {"experiment": experiment, "crew": crew, "runs": runs, "tmp": tmp}
        finally:
            stop_program(analyzer)
            stop_program(slow_control)
            stop_program(camera)


def page_url(experiment: Any) -> str:
    return f"{experiment.url}/?cmd=custom&page={urllib.parse.quote('CYGNO online')}"


def shown_number(driver: Any, element_id: str) -> float:
    from selenium.webdriver.common.by import By

    text = driver.find_element(By.ID, element_id).text.strip()
    return float(text)


def test_custom_page_shows_the_live_values(live, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    from cygno_mw.analyzers.outputs.query import Database

    experiment, crew = live["experiment"], live["crew"]
    # the page is in the status page's menu, served from the installed templates
    menu = experiment.jsonrpc("db_get_values", {"paths": ["/Custom"]})["data"][0]
    assert any(isinstance(v, str) and v.endswith("custom/cygno_online.html")
               for v in menu.values())
    # the statistics stop moving: written once more, then not for a minute
    crew.odb_set("/Analyzer/Online/Statistics interval s", 60.0)
    time.sleep(1.5)

    chromium.get(page_url(experiment))
    wait_for(lambda: int(chromium.find_element(By.TAG_NAME, "body").get_attribute(
        "data-polls") or 0) >= 1 and chromium.find_element(By.ID, "stat-run").text.strip(),
        30, "the page to fill")
    time.sleep(PAGE_REFRESH_S + 0.5)  # one more refresh of every modbvalue

    # the statistics shown are the ODB's
    odb = crew.odb_get(STATISTICS)
    for element_id, key in SHOWN.items():
        decimals = {"Rate": 2, "Latency p50 ms": 1, "Latency p99 ms": 1}.get(key, 0)
        assert math.isclose(shown_number(chromium, element_id), round(float(odb[key]),
                                                                      decimals),
                            abs_tol=10 ** -decimals), key
    assert odb["Events analyzed"] > 0 and odb["Clusters"] > 0
    assert chromium.find_element(By.ID, "stat-run-state").text == odb["Run state"]

    # the runs table is the SQL Runs table, newest first
    with Database(f"sqlite:///{live['tmp'] / 'cygno.sqlite'}") as db:
        rows = db.runs().sort_values("run", ascending=False)
    shown = chromium.execute_script(
        "return Array.from(document.querySelectorAll('#runs tr[data-run]'), "
        "r => Array.from(r.cells, c => c.textContent))")
    assert [int(r[0]) for r in shown] == [int(r) for r in rows["run"]] == live["runs"][::-1]
    for cells, (_, row) in zip(shown, rows.iterrows(), strict=True):
        assert int(cells[3]) == int(row["number_of_events"])
        assert int(cells[4]) == int(row["reco_events"])
        assert cells[5] == row["reco_status"] == "done"

    # the picture is served by mhttpd, with one box per cluster the analyzer reports
    image = chromium.find_element(By.ID, "display-img")
    assert wait_for(lambda: chromium.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image), 10,
        "the picture to load") == 256
    boxes, listed, caption = chromium.execute_script(
        "return [document.querySelectorAll('#display-boxes rect').length, "
        "document.querySelectorAll('#clusters tr.cluster').length, "
        "document.getElementById('display-caption').textContent]")
    display = crew.odb_get("/Analyzer/Display/Camera0")
    assert f"run {display['Run']}, event {display['Event']}, {boxes} cluster" in caption
    assert boxes == listed == display["Clusters"]
    # mhttpd's own history plot of the analyzer's rate, drawn from MIDAS history
    assert chromium.execute_script(
        "const c = document.querySelector('#history-rate canvas'); return c && c.width") > 0
    shot = Path(os.environ.get("CYGNO_PAGE_SCREENSHOT") or tmp_path / "custom_page.png")
    chromium.set_window_size(1060, 960)  # the page's boxes and no more (README's picture)
    time.sleep(0.5)
    assert chromium.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # an ODB change shows within the refresh time
    crew.odb_set(f"{STATISTICS}/Events analyzed", 987654.0)
    crew.trigger_internal_alarm("CYGNO page test", "a test alarm for the page")
    changed = time.monotonic()
    try:
        wait_for(lambda: chromium.find_element(By.ID, "stat-events-analyzed").text
                 == "987654", 10, "the new value on the page")
        seen_after = time.monotonic() - changed
        wait_for(lambda: "a test alarm for the page" in chromium.find_element(
            By.ID, "alarms").text, 10, "the alarm on the page")
    finally:
        crew.reset_alarm("CYGNO page test")
        crew.odb_set("/Analyzer/Online/Statistics interval s", 0.5)
    assert seen_after <= PAGE_REFRESH_S + 1.0
    print(f"ODB change shown after {seen_after:.2f} s")

    # the status page lists the analyzer's history record as a running equipment
    chromium.get(f"{experiment.url}/?cmd=status")
    wait_for(lambda: chromium.execute_script(
        "return Array.from(document.querySelectorAll('#equipmentList tr'), r => r.textContent)"
        ".some(t => t.includes('Online Analyzer@'))"), 20, "the analyzer on the status page")


def history(experiment: Any, event: str, tag: str, index: int = 0) -> list[float]:
    """The last 10 minutes of one history variable, read through mhttpd as its plots do."""
    now = int(time.time()) + 5
    answer = experiment.jsonrpc("hs_read", {"start_time": now - 600, "end_time": now,
                                            "events": [event], "tags": [tag], "index": [index]})
    series = answer["data"][0]
    assert series["status"] == 1 and series["count"] > 0, (event, tag, series)
    return [float(v) for v in series["value"]]


def test_history_of_the_analyzer_statistics_and_slow_control(live):
    """mlogger keeps MIDAS history of the analyzer's statistics (its equipment record) and of
    slow control; mhttpd reads it back as its history plots do."""
    experiment, crew = live["experiment"], live["crew"]
    events = experiment.jsonrpc("hs_get_active_events", {})["events"]
    assert ANALYZER in events and "SlowControl0" in events, events
    tags = experiment.jsonrpc("hs_get_tags", {"events": [ANALYZER, "SlowControl0"]})["events"]
    analyzer_tags = [t["name"] for t in tags[0]["tags"]]
    assert {"Events analyzed", "Rate", "Clusters"} <= set(analyzer_tags)
    analyzed = history(experiment, ANALYZER, "Events analyzed")
    assert 0 < max(analyzed) <= crew.odb_get(f"/Equipment/{ANALYZER}/Variables/Events analyzed")
    assert analyzed == sorted(analyzed)  # a counter: it never goes down

    # one history variable per slow-control channel, named after Settings/Names
    names = crew.odb_get("/Equipment/SlowControl0/Settings/Names")
    assert [t["name"] for t in tags[1]["tags"]] == [f"{n} Measured" for n in names]
    values = history(experiment, "SlowControl0", f"{names[0]} Measured")
    now = crew.odb_get("/Equipment/SlowControl0/Variables/Measured")[0]
    assert len(values) >= 2 and all(math.isfinite(v) for v in values)
    assert math.isclose(values[-1], now, rel_tol=0.05)  # the simulated reading wanders a little
