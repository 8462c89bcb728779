"""`cygno-mw demo`: a pedestal run and a short physics run, simulated, replayed and checked.

Everything lands in one output folder (default ./cygno-out): the MIDAS files and their
truth under `runs/`, the results in `cygno.sqlite`, `reco/` and `pedestals/`, exactly as
`cygno-mw replay` writes them with no configuration.  The report compares the clusters
found with the signals injected (`cygno_mw.simulation.truth_match`) and shows where to
look next.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.replay.session import ReplayOptions, ReplaySession
from cygno_mw.analyzers.summary import RunSummary
from cygno_mw.errors import CygnoError, UsageError
from cygno_mw.simulation.truth_match import MatchReport, match_clusters

PEDESTAL_RUN = 1
PHYSICS_RUN = 2
DEMO_MIX = "fe55=5,muon=1,nr=1,er=2,close_pairs=1,poisson=1"


@dataclass
class DemoOptions:
    output_dir: Path = Path("cygno-out")
    events: int = 10
    pedestal_events: int = 10
    workers: int = 1
    progress: bool = False
    say: Callable[[str], None] = field(default=print)
    command: str = "cygno-mw"  # how the report's "try:" lines call us (.venv/bin/cygno-mw)
    plots: bool = True  # end with the pictures of both runs under <output_dir>/plots/


@dataclass
class DemoResult:
    summaries: list[RunSummary]
    match: MatchReport
    database_url: str
    wall_s: float
    cpu_s: float
    pictures: list[Path] = field(default_factory=list)


def run_demo(options: DemoOptions) -> DemoResult:
    """Simulate, replay, compare; `options.say` gets the report line by line."""
    try:
        return _run_demo(options)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise CygnoError(f"demo: {exc.strerror or exc}{where}") from None


def _run_demo(options: DemoOptions) -> DemoResult:
    from cygno_mw.simulation.run import simulate_run
    from cygno_mw.simulation.signals import SignalMix

    if options.events < 1 or options.pedestal_events < 2:
        raise UsageError("the demo needs >= 1 physics event and >= 2 pedestal events")
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    out = Path(options.output_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    say = options.say
    say(f"simulating pedestal run {PEDESTAL_RUN} ({options.pedestal_events} dark images) and "
        f"physics run {PHYSICS_RUN} ({options.events} images, {DEMO_MIX}) into {runs_dir}/")
    pedestal = simulate_run(runs_dir / f"run{PEDESTAL_RUN:05d}.mid.lz4", PEDESTAL_RUN,
                            options.pedestal_events, pedestal=True)
    physics = simulate_run(runs_dir / f"run{PHYSICS_RUN:05d}.mid.lz4", PHYSICS_RUN,
                           options.events, mix=SignalMix.parse(DEMO_MIX))
    database_url = f"sqlite:///{out / 'cygno.sqlite'}"
    replay_options = ReplayOptions(
        overrides=(f"output.database_url={database_url}",), output_dir=out,
        workers=options.workers, progress=options.progress, messages=say)
    say("replaying both with the embedded defaults (SQLite + Parquet, no server) ...")
    with ReplaySession(replay_options) as session:
        summaries = [session.replay(pedestal.path), session.replay(physics.path)]
        params = session.parameters(None)
    for summary in summaries:
        for line in summary.lines():
            say(line)
    match = _compare_with_truth(database_url, physics.truth_path, params.reco)
    pictures = _draw_pictures(database_url, out, physics.path, say) if options.plots else []
    result = DemoResult(summaries, match, database_url, time.perf_counter() - started,
                        _cpu_seconds() - cpu_started, pictures)
    for line in _report(result, out, options.command):
        say(line)
    return result


def _compare_with_truth(database_url: str, truth_path: Path, reco: object) -> MatchReport:
    from cygno_mw.analyzers.outputs.query import Database
    from cygno_mw.simulation.truth import load_truth

    with Database(database_url) as db:
        clusters = db.reco(PHYSICS_RUN)
    window = (reco.xmin, reco.xmax, reco.ymin, reco.ymax)  # type: ignore[attr-defined]
    return match_clusters(load_truth(truth_path), clusters, window)


def _draw_pictures(database_url: str, out: Path, physics_file: Path,
                   say: Callable[[str], None]) -> list[Path]:
    """The spectrum, trend and busiest event of the physics run, and the pedestal maps."""
    from cygno_mw.analyzers.outputs.query import Database
    from cygno_mw.analyzers.plots.event_display import busiest_event, draw_event
    from cygno_mw.analyzers.plots.pedestal_maps import draw_pedestal
    from cygno_mw.analyzers.plots.spectrum import draw_spectrum
    from cygno_mw.analyzers.plots.trend import draw_trend

    plots = out / "plots"
    physics = f"run{PHYSICS_RUN:05d}"
    paths: list[Path] = []

    def draw(what: str, function: Callable[[], Any]) -> None:
        try:
            paths.extend(function().paths)
        except CygnoError as exc:  # e.g. no cluster at all in a tiny demo
            say(f"no {what} picture: {exc}")

    with Database(database_url) as db:
        draw("spectrum", lambda: draw_spectrum(db, [PHYSICS_RUN],
                                               [plots / f"{physics}_spectrum.png"]))
        draw("trend", lambda: draw_trend(db, [PHYSICS_RUN], [plots / f"{physics}_trend.png"]))
        event = busiest_event(db, PHYSICS_RUN, 0)
        draw("event", lambda: draw_event(db, out, physics_file, event,
                                         [plots / f"{physics}_event{event}.png"]))
        draw("pedestal", lambda: draw_pedestal(db, out, PEDESTAL_RUN,
                                               [plots / f"run{PEDESTAL_RUN:05d}_pedestal.png"]))
    return paths


def _report(result: DemoResult, out: Path, command: str = "cygno-mw") -> list[str]:
    physics = result.summaries[-1]
    db_option = "" if out == Path("cygno-out") else f" --db {result.database_url}"
    lines = ["", f"clusters vs truth (run {PHYSICS_RUN}):"]
    lines += [f"  {line}" for line in result.match.lines()]
    lines += [
        "",
        "where to look:",
        f"  database      {result.database_url} (tables runs, reco, macro, slow_control, "
        "pedestals)",
        f"  reco file     {physics.outputs.reco_file if physics.outputs else '-'}",
        f"  pedestal map  {out / 'pedestals'}/",
        f"  MIDAS files   {out / 'runs'}/ (truth: *.truth.parquet)",
        "",
        *(["pictures:"] + [f"  {path}" for path in result.pictures] + [""]
          if result.pictures else []),
        "try:",
        f"  {command} sql runs{db_option}",
        f"  {command} sql reco {PHYSICS_RUN} --where \"sc_integral > 10000\" "
        f"--columns event,sc_integral,sc_length,sc_xmean,sc_ymean{db_option}",
        f"  {command} plot spectrum {PHYSICS_RUN}{db_option}",
        "",
        f"demo done in {result.wall_s:.1f} s (CPU {result.cpu_s:.1f} s)",
    ]
    return lines


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
