"""`cygno-mw plot`: pictures of the results (PNG or PDF) for the elog.

    cygno-mw plot spectrum 2                  # cluster light spectrum, 55Fe peak fitted
    cygno-mw plot spectrum 10-15 --where "sc_length < 80" --pdf
    cygno-mw plot trend 2                     # clusters and light per image along the run
    cygno-mw plot event cygno-out/runs/run00002.mid.lz4 --event 3
    cygno-mw plot spectrum 2 --pass nsigma07  # one pass (default: the runs' best finished)
    cygno-mw plot pedestal 1                  # mean and noise maps, drift vs the previous

Runs are numbers or ranges (10-15).  Figures go to -o FILE (.png or .pdf, repeatable),
else to plots/ beside the database (./cygno-out/plots/ with the embedded default), named
after the run and the plot; --pdf writes a PDF next to each PNG.  The database is --db,
else $CYGNO_DB_URL, else $CYGNO_MW_HOME/cygno.sqlite, else the nearest ./cygno-out (said
on stderr).  Pictures of results draw one processing pass (--pass, else the runs' best
finished pass when they share it) and their title names it and its Reco parameters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cygno_mw.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    kinds = parser.add_subparsers(dest="plot", metavar="PLOT", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--db", metavar="URL", help="database URL (default: see cygno-mw "
                         "plot --help)")
        sub.add_argument("-o", "--output", action="append", type=Path, default=[],
                         metavar="FILE", help="write here (.png or .pdf; repeatable)")
        sub.add_argument("--pdf", action="store_true", help="also write a PDF")

    spectrum = kinds.add_parser("spectrum", help="cluster light spectrum, 55Fe peak fitted")
    spectrum.add_argument("runs", nargs="+", metavar="RUN", help="run numbers or ranges A-B")
    spectrum.add_argument("--variable", default="sc_integral",
                          help="reco column to histogram (default sc_integral, the "
                               "vignetting-corrected light)")
    spectrum.add_argument("--where", metavar="FILTER", help='cut, e.g. "sc_length < 80"')
    spectrum.add_argument("--bins", type=int, default=50, help="bins in the fit range")
    spectrum.add_argument("--range", dest="fit_range", metavar="LO,HI",
                          help="histogram range the peak is searched and fitted in "
                               "(default 0 .. 2.5 x the median)")
    common(spectrum)
    with_pass(spectrum)

    trend = kinds.add_parser("trend", help="clusters and light per image along a run")
    trend.add_argument("runs", nargs="+", metavar="RUN", help="run numbers or ranges A-B")
    trend.add_argument("--camera", type=int)
    common(trend)
    with_pass(trend)

    event = kinds.add_parser("event", help="event display of one image of a run file")
    event.add_argument("file", metavar="RUN_FILE", help="the run's MIDAS file")
    event.add_argument("--event", type=int, metavar="SERIAL",
                       help="MIDAS serial number (default: the image with most clusters)")
    event.add_argument("--camera", type=int, default=0)
    event.add_argument("--pedestal", type=Path, metavar="NPZ",
                       help="pedestal map file (default: the one replay used, from the "
                            "pedestals table)")
    common(event)
    with_pass(event)

    pedestal = kinds.add_parser("pedestal", help="pedestal mean/noise maps and their drift")
    pedestal.add_argument("run", type=int, metavar="RUN", help="a pedestal run")
    pedestal.add_argument("--camera", type=int, default=0)
    common(pedestal)


def with_pass(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--pass", dest="pass_name", metavar="NAME",
                     help="processing pass to draw (default: the runs' best finished pass, "
                          "when they share it); the title names it and its parameters")


def parse_runs(items: list[str]) -> list[int]:
    """'2', '10-15' -> run numbers, in order, without repeats."""
    runs: list[int] = []
    for item in items:
        first, sep, last = item.partition("-")
        try:
            numbers = range(int(first), int(last) + 1) if sep else [int(first)]
        except ValueError:
            raise UsageError(f"{item!r} is not a run number or a range like 10-15") from None
        runs.extend(r for r in numbers if r not in runs)
    if not runs:
        raise UsageError("no runs given")
    return runs


def parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--range {text!r}: give LO,HI, e.g. 2000,10000") from None
    if not high > low:
        raise UsageError(f"--range {text!r}: HI must be above LO")
    return low, high


def output_folder(url: Any) -> Path:
    """plots/ and pedestals/ live beside a SQLite database; else in the default folder."""
    from cygno_mw.home import home_dir

    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).parent
    return home_dir()


def targets(args: argparse.Namespace, folder: Path, name: str) -> list[Path]:
    paths = list(args.output) or [folder / "plots" / f"{name}.png"]
    if args.pdf:
        paths += [p.with_suffix(".pdf") for p in paths if p.suffix.lower() != ".pdf"]
    return paths


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.outputs.query import Database
    from cygno_mw.home import find_database

    url = args.db
    if url is None:
        from cygno_mw.analyzers.outputs.credentials import safe_url

        url, how = find_database()
        print(f"cygno-mw plot: {safe_url(url)} (from {how})", file=sys.stderr)
    with Database(url) as db:
        folder = output_folder(db.url)
        if args.plot == "spectrum":
            from cygno_mw.analyzers.plots.spectrum import draw_spectrum

            runs = parse_runs(args.runs)
            result = draw_spectrum(db, runs, targets(args, folder, _name(runs, "spectrum")),
                                   variable=args.variable, where=args.where, bins=args.bins,
                                   fit_range=parse_range(args.fit_range),
                                   pass_=args.pass_name)
            print(result.summary())
        elif args.plot == "trend":
            from cygno_mw.analyzers.plots.trend import draw_trend

            runs = parse_runs(args.runs)
            result = draw_trend(db, runs, targets(args, folder, _name(runs, "trend")),
                                camera=args.camera, pass_=args.pass_name)
            print(f"{len(result.events)} images, {int(result.nclusters.sum())} clusters "
                  f"({result.pass_shown.title()})")
        elif args.plot == "event":
            from cygno_mw.analyzers.plots.event_display import busiest_event, draw_event, run_of
            from cygno_mw.analyzers.plots.pass_label import pass_shown

            event = args.event
            if event is None:
                run = run_of(args.file)
                event = busiest_event(db, run, args.camera,
                                      pass_=pass_shown(db, [run], args.pass_name).name)
            stem = Path(args.file).name.split(".")[0]
            result = draw_event(db, folder, args.file, event,
                                targets(args, folder, f"{stem}_event{event}"),
                                camera=args.camera, pedestal_file=args.pedestal,
                                pass_=args.pass_name)
            print(f"run {result.run} event {result.event} camera {result.camera}: "
                  f"{len(result.boxes)} clusters outlined ({result.pass_shown.title()})")
        else:
            from cygno_mw.analyzers.plots.pedestal_maps import draw_pedestal

            result = draw_pedestal(db, folder, args.run,
                                   targets(args, folder, f"run{args.run:05d}_pedestal"),
                                   camera=args.camera)
            text = (f"pedestal run {result.run}: mean {result.mean:.2f} ADU, noise "
                    f"{result.noise:.3f} ADU")
            if result.drift is not None:
                text += (f"; since run {result.previous_run}: mean "
                         f"{result.drift['mean_shift']:+.3f} ADU, noise "
                         f"{result.drift['noise_shift']:+.4f} ADU")
            print(text)
    for path in result.paths:
        print(f"wrote {path}")
    return 0


def _name(runs: list[int], kind: str) -> str:
    first, last = min(runs), max(runs)
    return f"run{first:05d}_{kind}" if first == last else f"run{first:05d}-{last:05d}_{kind}"
