"""Every Grafana panel's InfluxQL, run on a real InfluxDB 1.6 loaded by our own InfluxSink.

The data: a replay of simulated runs (pedestal, then 55Fe physics runs, with slow control)
and an online-analyzer session on the MIDAS stand-in (pedestal and physics run), all writing
through `InfluxSink` (the v2 write API, bridged to 1.6's /write, see servers.InfluxQLServer).
Each panel's query is run as Grafana runs it: `$timeFilter` and `$__interval` from the time
range, template variables set to All, to every value at once (Grafana's `(a|b)` regex) and
to each value alone. A query that returns nothing fails; values must be plausible.

Set CYGNO_PANEL_PNG=path to also plot one panel's answer (the README's figure).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

pytestmark = pytest.mark.influxql

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
MAX_DATA_POINTS = 1000  # Grafana's default for a full-width time series panel
NICE_INTERVALS_MS = (1, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000,
                     60_000, 300_000, 600_000, 3_600_000)
PLOTTED_PANEL = "Clusters per image"
# Panels (title, query) with data in the simulation that must not be all zero.
NOT_ALL_ZERO = {("Events analyzed and skipped", "A"), ("Clusters per image", "A"),
                ("Light per image", "B"), ("Event rate", "A"), ("Data rate", "A"),
                ("Events sent", "A"), ("Analyzer rate", "A"), ("Latency behind the DAQ", "A")}

# Plausible values per panel (every value must lie in [low, high]; None: no bound).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "Events analyzed and skipped": (0, 1e5),
    "Events analyzed / skipped (since the analyzer started)": (0, 1e6),
    "Latency behind the DAQ": (0, 60),
    "Backlog": (0, 1e5),
    "Clusters per image": (0, 500),
    "Light per image": (None, None),
    "Reconstruction time per image": (0, 60),
    "Images reconstructed": (1, 1e5),
    "Pedestal mean": (1, 1e4),
    "Noise": (0, 100),
    "Hot pixels": (0, 1e6),
    "Pedestal spread": (0, 1e3),
    "55Fe peak position": (500, 1e5),
    "55Fe peak width": (0, 1e5),
    "55Fe spots per window": (10, 1e6),
    "GEM voltages": (300, 500),
    "Drift and transfer fields": (300, 1100),
    "GEM currents": (-1, 1),
    "PMT voltages": (700, 900),
    "Cathode voltage": (-45_000, -35_000),
    "Cathode current": (-20, 0),
    "Gas flows": (0, 20),
    "Gas analyser AT401": (1000, 1500),
    "Gas analyser AT402": (0, 1),
    "Temperatures": (10, 30),
    "Pressures": (850, 970),
    "Humidity": (20, 70),
    "Event rate": (0, 1e5),
    "Data rate": (0, 1e4),
    "Analyzer rate": (0, 1e5),
    "Events sent": (0, 1e9),
    "Results waiting for a server": (0, 1e6),
    "Results lost": (0, 0),
}


# -- loading: our own sink, from simulated runs ---------------------------------------------
@pytest.fixture(scope="module")
def loaded(influxql_server, tmp_path_factory) -> dict[str, Any]:
    """A fresh database with a replay session and an online session written into it."""
    database = influxql_server.create_database("grafana")
    url = influxql_server.v2_write_url()
    tmp = tmp_path_factory.mktemp("grafana")
    started = time.time()
    _replay(tmp, url, database, started - 180)
    online_now = _online(tmp, url, database)
    return {"database": database, "from_ms": int((started - 240) * 1000),
            "to_ms": int((max(time.time(), online_now) + 5) * 1000)}


def _replay(tmp: Path, url: str, database: str, start: float) -> None:
    """Pedestal run 40, then 55Fe runs 41 and 42 (10 images, 3 s apart), ending near now."""
    fe55 = SignalMix(fe55=8, muon=0, nr=0, er=0)
    files = [simulate_run(tmp / "run00040.mid.lz4", 40, 4, pedestal=True, with_pmt=False,
                          start_time=start, sc_period=10.0).path]
    for i, run in enumerate((41, 42)):
        files.append(simulate_run(tmp / f"run{run:05d}.mid.lz4", run, 10, with_pmt=False,
                                  mix=fe55, start_time=start + 20 + 60 * i,
                                  sc_period=10.0).path)
    assert main(["replay", "-q", "-o", str(tmp / "replay"), "--set",
                 f"output.influx_url={url}", "--set", f"output.influx_bucket={database}",
                 *map(str, files)]) == 0


def _online(tmp: Path, url: str, database: str) -> float:
    """A pedestal and a physics run through the online analyzer on the MIDAS stand-in,
    statistics written between frontend passes (real time passes: the points are stamped
    with the wall clock). The stand-in's virtual clock moves 3.1 s per pass, so that the
    frontend updates its /Equipment statistics (every 3 s); returns its time at the end."""
    standin = pytest.importorskip("midas.standin", reason="the online part uses the stand-in")
    import midas.client
    from test_online_analyzer import CAMERA, make_analyzer, parameters, settle

    from cygno_mw.frontends.camera.equipment import CameraFrontend

    standin.reset()
    crew = midas.client.MidasClient("crew")
    try:
        crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
        crew.odb_set("/Experiment/Buffer sizes/SYSTEM", 256 * 1024 * 1024)
        crew.odb_set(f"{CAMERA}/Settings", {"Frame rate": 0.0, "Sim pool": 2,
                                            "ROI width": 512, "ROI height": 256,
                                            "ROI x0": 64, "ROI y0": 128},
                     remove_unspecified_keys=False)
        params = parameters(tmp / "online")
        params["Output"].update(influx_url=url, influx_bucket=database)
        crew.odb_set("/Analyzer/Parameters", params)
        fe = CameraFrontend(0)
        analyzer = make_analyzer()
        for pedestal, passes in ((True, 3), (False, 8)):
            crew.odb_set("/Configurations/Pedestal", pedestal)
            crew.start_run()
            for _ in range(passes):
                standin.experiment().clock.advance(3.1)
                standin.run_frontend(fe, 1)
                analyzer.poll(1000)
                assert analyzer.processor.backlog.wait_empty(60)
                analyzer.periodic(force=True)
                time.sleep(0.15)
            crew.stop_run()
            settle(analyzer)
        analyzer.close()
        assert crew.odb_get("/Analyzer/Reco/Statistics")["Output dropped"] == 0
        return standin.experiment().clock.now()
    finally:
        crew.disconnect()


# -- running panels as Grafana does ---------------------------------------------------------
def interval(from_ms: int, to_ms: int) -> str:
    """$__interval: the range over the panel's max data points, rounded up to a nice step."""
    wanted = (to_ms - from_ms) / MAX_DATA_POINTS
    return f"{next((n for n in NICE_INTERVALS_MS if n >= wanted), NICE_INTERVALS_MS[-1])}ms"


def fill(query: str, loaded: dict[str, Any], variables: dict[str, str]) -> str:
    text = query.replace("$timeFilter", f"time >= {loaded['from_ms']}ms and "
                                        f"time <= {loaded['to_ms']}ms")
    text = text.replace("$__interval", interval(loaded["from_ms"], loaded["to_ms"]))
    for name, value in sorted(variables.items(), key=lambda item: -len(item[0])):
        text = text.replace(f"${name}", value)
    assert not re.search(r"\$(?!tag_|col\b)\w", text), f"unfilled variable: {text}"
    return text


def regex_value(values: list[str]) -> str:
    """A multi-value selection as Grafana writes it into an InfluxQL regex."""
    escaped = [re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def series(server, loaded, query: str, variables: dict[str, str]) -> list[dict]:
    results = server.query(fill(query, loaded, variables), loaded["database"])
    assert "error" not in results[0], (query, results[0])
    return results[0].get("series", [])


def variable_values(server, loaded, dashboard: dict) -> dict[str, list[str]]:
    """Each query variable's values, from its own SHOW TAG VALUES query."""
    found = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        answer = series(server, loaded, var["query"], {})
        assert answer, f"{dashboard['title']}: variable ${var['name']} lists nothing"
        found[var["name"]] = sorted({str(v[1]) for s in answer for v in s["values"]})
    return found


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def check_answer(title: str, target: dict, answer: list[dict], where: str) -> None:
    """The series the query asks for (its aliases, its GROUP BY tags), plausible values."""
    assert answer, f"{title} ({target['refId']}) returns nothing {where}"
    query = target["query"]
    aliases = re.findall(r'AS "([^"]+)"', query)
    group_tags = re.findall(r'"(\w+)"', query.split("GROUP BY", 1)[1])
    low, high = RANGES[title]
    values = []
    for one in answer:
        assert one["columns"] == ["time", *aliases], (title, one["columns"])
        assert set(one.get("tags", {})) == set(group_tags), (title, one.get("tags"))
        values += [v for row in one["values"] for v in row[1:] if v is not None]
    assert values, f"{title}: only empty values {where}"
    assert all(math.isfinite(v) for v in values)
    assert low is None or min(values) >= low, (title, min(values), where)
    assert high is None or max(values) <= high, (title, max(values), where)
    if (title, target["refId"]) in NOT_ALL_ZERO and where == "with All":
        assert max(abs(v) for v in values) > 0, f"{title}: all zero"


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_every_panel_query_answers_with_plausible_series(influxql_server, loaded, path):
    dashboard = json.loads(path.read_text())
    values = variable_values(influxql_server, loaded, dashboard)
    everything = {name: ".*" for name in values}  # allValue of "All"
    for panel in panels(dashboard):
        assert panel["title"] in RANGES, f"no plausible range for panel {panel['title']!r}"
        for target in panel["targets"]:
            query = target["query"]
            used = [name for name in values if f"${name}" in query]
            check_answer(panel["title"], target,
                         series(influxql_server, loaded, query, everything), "with All")
            selected = {name: regex_value(values[name]) for name in values}
            check_answer(panel["title"], target,
                         series(influxql_server, loaded, query, selected),
                         "with every value selected")
            for name in used:  # each value alone: some have data here (not all: a pedestal
                answered = []  # run has no 55Fe points), and what comes is plausible
                for value in values[name]:
                    answer = series(influxql_server, loaded, query,
                                    {**everything, name: regex_value([value])})
                    if answer:
                        check_answer(panel["title"], target, answer, f"with ${name}={value}")
                        answered.append(value)
                assert answered, f"{panel['title']}: no single ${name} value answers"
            if panel["title"] == PLOTTED_PANEL and os.environ.get("CYGNO_PANEL_PNG"):
                plot_panel(panel, series(influxql_server, loaded, query, everything),
                           Path(os.environ["CYGNO_PANEL_PNG"]))


def test_online_and_replay_runs_all_reach_the_dashboards(influxql_server, loaded):
    """The run variable lists the replay's and the online session's runs; the 55Fe monitor
    found the simulated peak in both physics runs of the replay."""
    board = json.loads((GRAFANA / "dashboards" / "online-reconstruction.json").read_text())
    runs = variable_values(influxql_server, loaded, board)["run"]
    assert {"2", "41", "42"} <= set(runs)  # 1 and 40: pedestal runs, no images reconstructed
    fe55 = series(influxql_server, loaded, 'SELECT "peak", "width", "clusters" FROM '
                  '"cygno_fe55" WHERE $timeFilter GROUP BY "run"', {})
    by_run = {s["tags"]["run"]: s["values"] for s in fe55}
    for run in ("41", "42"):
        (_, peak, width, clusters), = by_run[run]
        assert 2000 < peak < 10_000 and 0 < width < peak and clusters >= 40


def plot_panel(panel: dict, answer: list[dict], path: Path) -> None:
    """One panel's answer as a small PNG (the README's figure)."""
    import datetime as dt

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    for one in answer:
        times = [dt.datetime.fromtimestamp(row[0] / 1000, dt.timezone.utc)
                 for row in one["values"]]
        ax.plot(times, [row[1] for row in one["values"]], "o", markersize=4,
                label=f"camera {one['tags'].get('camera', '')}")
    ax.set_title(f"{panel['title']} (InfluxQL on InfluxDB 1.6, test data)", fontsize=10)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("clusters / image")
    ax.legend(fontsize=8)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M:%S"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
