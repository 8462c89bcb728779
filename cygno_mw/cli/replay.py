"""`cygno-mw replay`: run MIDAS files through the reconstruction into every output.

    cygno-mw replay run00001.mid.lz4 run00002.mid.lz4          # pedestal run, then physics
    cygno-mw replay run00002.mid.lz4 --pedestal run00001.mid.lz4 -j 2
    cygno-mw replay s3://cygno-data/LNGS/run42901.mid.gz --set reco.nsigma=0.7
    cygno-mw replay run00002.mid.lz4 --set reco.vignette_map=normmap_lime.root
    cygno-mw replay run00002.mid.lz4 --set reco.nsigma=0.8 --pass nsigma08

Exit status: 0 every run complete, 1 a file could not be processed, 2 bad usage or
parameter, 3 a run was partial (its file truncated or corrupt).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_PARTIAL = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="MIDAS files (.mid, .mid.gz, .mid.lz4) or s3://bucket/key URLs, "
                             "replayed in the order given")
    parser.add_argument("-o", "--output-dir", type=Path, default=None, metavar="DIR",
                        help="where results go: DIR/cygno.sqlite and DIR/reco, DIR/pedestals "
                             "(default: /Analyzer/Parameters/Output, i.e. ./cygno-out)")
    parser.add_argument("--pedestal", metavar="FILE", default=None,
                        help="pedestal run whose maps to use (computed once, then cached "
                             "under the output folder); default: the latest earlier pedestal "
                             "run in the pedestals table")
    parser.add_argument("--force-pedestal", action="store_true",
                        help="take --pedestal FILE even if its ODB does not call it a "
                             "pedestal run (its maps then serve this replay only and are "
                             "never stored as a pedestal run)")
    parser.add_argument("-c", "--config", type=Path, default=None, metavar="JSON",
                        help='parameters as {"Reco": {...}, "Output": {...}}, over the ODB')
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one parameter, e.g. reco.nsigma=0.7 or "
                             "output.reco_file_format=root (repeatable; wins over all)")
    parser.add_argument("--pass", dest="pass_name", default="replay", metavar="NAME",
                        help="processing pass the results belong to (default: replay); the "
                             "same name with other parameters is refused, another name "
                             "keeps the earlier results beside these")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="N worker processes for the reconstruction on the CPU "
                             "(a GPU batches instead)")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="database URL or SQLite file (default: $CYGNO_DB_URL, else "
                             "/Analyzer/Parameters/Output, i.e. DIR/cygno.sqlite)")
    parser.add_argument("--db-wait", type=float, default=60.0, metavar="S",
                        help="wait out a database outage for up to S seconds in all, "
                             "retrying with backoff (default 60)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no summary")


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.replay.session import ReplayOptions, ReplaySession
    from cygno_mw.errors import CygnoError, UsageError
    from cygno_mw.redact import redact

    if not 0 <= args.db_wait <= 86400:
        raise UsageError(f"--db-wait must be 0 to 86400 seconds, got {args.db_wait}")
    options = ReplayOptions(
        config_file=args.config, overrides=tuple(args.overrides), output_dir=args.output_dir,
        pedestal_file=args.pedestal, force_pedestal=args.force_pedestal, workers=args.jobs,
        db_wait_s=args.db_wait, pass_name=args.pass_name, database_url=args.db,
        progress=not args.quiet and sys.stderr.isatty(),
        messages=(lambda _text: None) if args.quiet else _to_stderr)
    status = 0
    with ReplaySession(options) as session:
        for path in args.files:
            try:
                summary = session.replay(path)
            except CygnoError as exc:
                print(f"cygno-mw replay: error: {redact(str(exc))}", file=sys.stderr)
                status = max(status, exc.exit_code)
                continue
            if not args.quiet:
                print("\n".join(summary.lines()))
            if summary.partial:
                print(f"cygno-mw replay: run {summary.run} is partial: "
                      f"{redact(str(summary.problem))}",
                      file=sys.stderr)
                status = max(status, EXIT_PARTIAL)
    return status


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)
