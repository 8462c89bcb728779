"""`cygno-mw reprocess`: re-process runs on a Dask cluster into a named processing pass.

    cygno-mw reprocess run00010.mid.lz4 run00011.mid.lz4 --pass v2        # files
    cygno-mw reprocess 11000-11050 --pass v2                 # runs of the chunks table
    cygno-mw reprocess s3://cygno-data/lime/ --pass v2       # run files / chunks on S3
    cygno-mw reprocess --follow --pass quasi-online          # new runs as they arrive
    cygno-mw reprocess 11000-11050 --scheduler tcp://10.0.0.5:8786

A local cluster (`--workers N` processes; its dashboard on loopback unless `--dashboard`
says otherwise) unless `--scheduler` names a running one. One
task per run; a task whose worker dies is rerun, and the run's rows are replaced, never
doubled. A chunk that cannot be read, or a chunk number missing before a run's recorded
last chunk, is named with its reason and the run is `partial`. Exit status: 0 all runs
processed, 1 some failed, 2 bad usage, 3 some partial (none failed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="RUNS|s3://...|FILE",
                        help="run numbers (10-12,15: from the chunks table), an s3:// prefix, "
                             "or MIDAS files")
    parser.add_argument("--pass", dest="pass_name", default="reprocess",
                        help="processing pass the results go to (default: reprocess)")
    parser.add_argument("-o", "--output-dir", type=Path, default=None, metavar="DIR",
                        help="as for cygno-mw replay")
    parser.add_argument("-c", "--config", type=Path, default=None, metavar="JSON")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="database URL or SQLite file (default: $CYGNO_DB_URL, else "
                             "/Analyzer/Parameters/Output)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="as for cygno-mw replay")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="an existing Dask scheduler (default: a local cluster)")
    parser.add_argument("--dashboard", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="where the local cluster's Dask dashboard listens (it has no "
                             "authentication; default: loopback, a free port; e.g. "
                             "0.0.0.0:8787 to open it to the network)")
    parser.add_argument("-j", "--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="worker processes of the local cluster")
    parser.add_argument("--follow", action="store_true",
                        help="watch the chunks table and process each run when complete")
    parser.add_argument("--poll-s", type=float, default=2.0, help="--follow: poll interval")
    parser.add_argument("--follow-for-s", type=float, default=None, help=argparse.SUPPRESS)
    parser.epilog = __doc__


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.outputs.credentials import safe_url
    from cygno_mw.analyzers.outputs.database import create_db_engine
    from cygno_mw.analyzers.outputs.passes import check_pass_name
    from cygno_mw.analyzers.replay.session import ReplayOptions, ReplaySession
    from cygno_mw.analyzers.reprocess import inputs
    from cygno_mw.analyzers.reprocess.campaign import run_campaign
    from cygno_mw.analyzers.reprocess.follow import follow
    from cygno_mw.analyzers.reprocess.tasks import TaskOptions
    from cygno_mw.errors import UsageError
    from cygno_mw.progress import Progress

    check_pass_name(args.pass_name)
    if not args.inputs and not args.follow:
        raise UsageError("give runs, an s3:// prefix or files (or --follow)")
    options = TaskOptions(args.pass_name,
                          str(args.output_dir.resolve()) if args.output_dir else None,
                          tuple(args.overrides), str(args.config) if args.config else None,
                          args.db)
    params = ReplaySession(ReplayOptions(
        config_file=args.config, overrides=args.overrides, output_dir=args.output_dir,
        pass_name=args.pass_name)).parameters(None)
    database_url = args.db or params.output.database_url
    engine = create_db_engine(database_url)
    items = []
    for text in args.inputs:
        if inputs.is_run_list(text):
            found = inputs.chunk_items(engine, inputs.parse_runs(text), complete_only=False)
            if not found:
                raise UsageError(f"runs {text}: none in the chunks table of "
                                 f"{safe_url(engine.url)}")
            items += found
        elif text.startswith("s3://"):
            items += inputs.s3_items(text, params.output.s3_endpoint_url or None)
        else:
            items.append(inputs.file_item(text))

    client, cluster = _connect(args)
    try:
        if args.follow:
            report = follow(client, engine, options, poll_s=args.poll_s,
                            stop_after_s=args.follow_for_s,
                            on_report=lambda r: print("\n".join(r.lines()[1:]), flush=True))
        else:
            progress = Progress(f"pass {args.pass_name}", len(items), "runs")
            report = run_campaign(client, items, options,
                                  on_done=lambda result: progress.update())
            progress.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print("\n".join(report.lines()))
    if report.failures:
        print(f"cygno-mw reprocess: {len(report.failures)} run(s) failed", file=sys.stderr)
        return 1
    if report.partial:
        print(f"cygno-mw reprocess: run(s) {', '.join(map(str, report.partial))} partial: "
              "input missing or damaged (named above)", file=sys.stderr)
        return 3
    return 0


def _connect(args: argparse.Namespace) -> tuple:
    """(Client, LocalCluster or None)."""
    from distributed import Client, LocalCluster

    if args.scheduler:
        return Client(args.scheduler), None
    quiet = logging.INFO if getattr(args, "verbose", 0) else logging.WARNING
    logging.getLogger("distributed").setLevel(quiet)
    cluster = LocalCluster(n_workers=max(1, args.workers), threads_per_worker=1,
                           processes=True, dashboard_address=args.dashboard,
                           silence_logs=quiet)
    client = Client(cluster)
    logging.getLogger(__name__).info("Dask dashboard: %s", client.dashboard_link)
    return client, cluster
