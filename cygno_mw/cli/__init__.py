"""The `cygno-mw` command: one console script, one module per subcommand.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int` and
imports its heavy dependencies inside `run`, so `cygno-mw dump` never pays for
SQLAlchemy or CuPy.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from cygno_mw import __version__
from cygno_mw.errors import CygnoError
from cygno_mw.redact import RedactingFormatter, redact

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("cygno_mw.cli.simulate", "write a simulated MIDAS run (with truth sidecar)"),
    "dump": ("cygno_mw.cli.dump", "print the events and banks of a MIDAS file"),
    "odb": ("cygno_mw.cli.odb", "install ODB templates into a live ODB, or diff against them"),
    "sql": ("cygno_mw.cli.sql", "query the result tables (runs, reco, macro, sc, pedestals)"),
    "replay": ("cygno_mw.cli.replay", "reconstruct MIDAS files into SQL, reco files, S3"),
    "demo": ("cygno_mw.cli.demo", "simulate two runs, replay them, report (the first command)"),
    "frontend": ("cygno_mw.cli.frontend", "run a MIDAS frontend (camera, pmt, slow-control)"),
    "analyzer": ("cygno_mw.cli.analyzer", "run a MIDAS analyzer client (online)"),
}
# programs MIDAS starts: their flags (-h HOST, -i N, ...) are MIDAS's, not ours
_PROGRAM_COMMANDS = ("frontend", "analyzer")


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors (they quote the bad value) never show a secret."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cygno-mw", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cygno-mw {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text,
                                    add_help=name not in _PROGRAM_COMMANDS)
        if name in _PROGRAM_COMMANDS:  # -h is MIDAS's host flag there
            sub_parser.add_argument("--help", action="help", help="show this help and exit")
        sub_parser.set_defaults(_module=module_name)
        importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    fresh = not root.handlers
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format=log_format)
    if fresh:  # our own handler: its records never show a secret
        for handler in root.handlers:
            handler.setFormatter(RedactingFormatter(log_format))
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except CygnoError as exc:
        print(f"cygno-mw {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"cygno-mw {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
