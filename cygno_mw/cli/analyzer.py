"""`cygno-mw analyzer online|uploader [-h HOST] [-e EXPT] [--name NAME] [-D]`: start an analyzer.

The command MIDAS runs from `/Programs/Online Analyzer/Start command`; like
`cygno-mw frontend`, it names a program, never a module path.
"""

from __future__ import annotations

import argparse
import importlib

# program name -> module whose main(argv) runs it (the program's own folder)
PROGRAMS = {
    "online": "cygno_mw.analyzers.online.analyzer",
    "uploader": "cygno_mw.analyzers.uploader.program",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", choices=sorted(PROGRAMS), help="which analyzer")
    parser.add_argument("program_args", nargs=argparse.REMAINDER, metavar="...",
                        help="the analyzer's own flags (see cygno-mw analyzer online --help)")
    parser.epilog = __doc__


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(PROGRAMS[args.program])
    return int(module.main(args.program_args, prog=f"cygno-mw analyzer {args.program}") or 0)
