"""`cygno-mw demo`: simulate a pedestal run and a short physics run, replay them, report.

The first command on a fresh machine: no server, no configuration; everything goes to
./cygno-out (or -o DIR).  Run it again and it starts over (the runs' rows are replaced).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("cygno-out"),
                        metavar="DIR", help="where everything goes (default ./cygno-out)")
    parser.add_argument("--events", type=int, default=10, metavar="N",
                        help="images in the physics run (default 10)")
    parser.add_argument("--pedestal-events", type=int, default=10, metavar="N",
                        help="images in the pedestal run (default 10)")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="worker processes for the reconstruction (default 1)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true",
                        help="skip the pictures (DIR/plots/*.png)")


def invoked_as() -> str:
    """How to type this command again: `cygno-mw` when that is on PATH and is us, else the
    path that was run (`.venv/bin/cygno-mw`), so the printed examples work as printed."""
    import os
    import shutil

    script = Path(sys.argv[0])
    if script.name == "__main__.py" and script.parent.name == "cygno_mw":
        return f"{Path(sys.executable)} -m cygno_mw"
    if script.name != "cygno-mw":  # called as a library (tests)
        return "cygno-mw"
    on_path = shutil.which("cygno-mw")
    if on_path and os.path.realpath(on_path) == os.path.realpath(script):
        return "cygno-mw"
    if not script.is_absolute():
        return str(script)  # as it was typed: .venv/bin/cygno-mw
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.replay.demo import DemoOptions, run_demo

    result = run_demo(DemoOptions(
        output_dir=args.output_dir, events=args.events, pedestal_events=args.pedestal_events,
        workers=args.jobs, progress=not args.quiet and sys.stderr.isatty(),
        say=lambda line: print(line, flush=True), command=invoked_as(), plots=not args.no_plots))
    return 0 if all(not s.partial for s in result.summaries) else 1
