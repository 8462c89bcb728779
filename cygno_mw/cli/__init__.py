"""The `cygno-mw` command: one console script, one module per subcommand.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int` and
imports its heavy dependencies inside `run`, so `cygno-mw dump` never pays for
SQLAlchemy or CuPy.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from cygno_mw import build_info
from cygno_mw.errors import CygnoError
from cygno_mw.redact import RedactingFormatter, redact

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("cygno_mw.cli.simulate", "write a simulated MIDAS run (with truth sidecar)"),
    "dump": ("cygno_mw.cli.dump", "print the events and banks of a MIDAS file"),
    "odb": ("cygno_mw.cli.odb", "install ODB templates into a live ODB, or diff against them"),
    "sql": ("cygno_mw.cli.sql", "query the result tables (runs, reco, macro, sc, pedestals)"),
    "plot": ("cygno_mw.cli.plot", "draw spectra, trends, event displays, pedestal maps"),
    "replay": ("cygno_mw.cli.replay", "reconstruct MIDAS files into SQL, reco files, S3"),
    "reprocess": ("cygno_mw.cli.reprocess", "re-process runs, files or chunks on Dask into a pass"),
    "demo": ("cygno_mw.cli.demo", "simulate two runs, replay them, report (the first command)"),
    "frontend": ("cygno_mw.cli.frontend", "run a MIDAS frontend (camera, pmt, slow-control)"),
    "analyzer": ("cygno_mw.cli.analyzer", "run a MIDAS analyzer client (online, uploader)"),
}
# programs MIDAS starts: their flags (-h HOST, -i N, ...) are MIDAS's, not ours
_PROGRAM_COMMANDS = ("frontend", "analyzer")
LOG_LEVEL_ENV = "CYGNO_MW_LOG_LEVEL"
# libraries whose INFO lines are noise in normal output (shown from -vv on)
_NOISY_LOGGERS = ("alembic", "matplotlib", "urllib3", "botocore", "boto3", "s3transfer",
                  "numba", "asyncua", "PIL", "distributed")


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors (they quote the bad value) never show a secret."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cygno-mw", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--version", action="version", version=build_info.describe())
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help=f"more log output (-vv: debug); also ${LOG_LEVEL_ENV}=LEVEL")
    parser.add_argument("-q", "--quiet", dest="log_quiet", action="store_true",
                        help="errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        # no abbreviations: `--db` must never be taken for `--db-wait`
        sub_parser = sub.add_parser(name, help=help_text, description=help_text,
                                    add_help=name not in _PROGRAM_COMMANDS,
                                    allow_abbrev=False)
        if name in _PROGRAM_COMMANDS:  # -h is MIDAS's host flag there
            sub_parser.add_argument("--help", action="help", help="show this help and exit")
        sub_parser.set_defaults(_module=module_name)
        importlib.import_module(module_name).add_arguments(sub_parser)
        if name not in _PROGRAM_COMMANDS:
            _add_log_flags(sub_parser)
    return parser


def _add_log_flags(sub_parser: argparse.ArgumentParser) -> None:
    """-v and -q work after the subcommand too (`cygno-mw replay -v FILE`, `sql runs -v`)."""
    for action in sub_parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _add_log_flags(nested)
    taken = {s for action in sub_parser._actions for s in action.option_strings}
    if "-v" not in taken:
        sub_parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                                help="more log output (-vv: debug)")
    if "-q" not in taken:
        sub_parser.add_argument("-q", "--quiet", dest="log_quiet", action="store_true",
                                default=argparse.SUPPRESS, help="errors only")


def log_level(args: argparse.Namespace) -> int:
    """-q, else -v/-vv, else $CYGNO_MW_LOG_LEVEL (a name or a number), else WARNING."""
    if getattr(args, "log_quiet", False) or getattr(args, "quiet", False) is True:
        return logging.ERROR
    if args.verbose:
        return logging.WARNING - 10 * min(args.verbose, 2)
    text = os.environ.get(LOG_LEVEL_ENV, "").strip()
    if not text:
        return logging.WARNING
    level = int(text) if text.isdigit() else logging.getLevelName(text.upper())
    if not isinstance(level, int):
        print(f"cygno-mw: ${LOG_LEVEL_ENV}={text!r} is not a log level (DEBUG, INFO, "
              "WARNING, ERROR); using WARNING", file=sys.stderr)
        return logging.WARNING
    return level


def configure_logging(level: int) -> None:
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    fresh = not root.handlers
    logging.basicConfig(level=level, format=log_format)
    if fresh:  # our own handler: its records never show a secret
        for handler in root.handlers:
            handler.setFormatter(RedactingFormatter(log_format))
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING)
                                         if level > logging.DEBUG else level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "log_quiet", False) and hasattr(args, "quiet"):
        args.quiet = True  # `cygno-mw -q replay ...`: the subcommand is quiet too
    configure_logging(log_level(args))
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
