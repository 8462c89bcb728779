"""Print every `cygno-mw` command line that has a --help, one per line (for .ci/wheel).

Walks the installed command line: each subcommand, each nested one (`sql runs`, `plot
spectrum`, `odb install`) and each program MIDAS starts (`frontend camera`, `analyzer
uploader`).  Run it with the Python of the environment under test; it also refuses to run
on a cygno_mw imported from a checkout instead of that environment's site-packages.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
from pathlib import Path

import cygno_mw
from cygno_mw.cli import build_parser
from cygno_mw.cli.analyzer import PROGRAMS as ANALYZERS
from cygno_mw.cli.frontend import PROGRAMS as FRONTENDS


def command_lines(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines.append(" ".join((*prefix, name)))
                lines += command_lines(sub, (*prefix, name))
    return lines


if __name__ == "__main__":
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = Path(cygno_mw.__file__).resolve()
    if site not in where.parents:
        sys.exit(f"cygno_mw imported from {where}, not from this environment's {site}")
    lines = command_lines(build_parser())
    lines += [f"frontend {name}" for name in FRONTENDS]
    lines += [f"analyzer {name}" for name in ANALYZERS]
    print("\n".join(lines))
