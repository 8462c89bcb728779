"""`cygno-mw sql`: read the Run, Reco, Macro, Slow Control and pedestal tables; set up a database.

    cygno-mw sql runs 11021 11022
    cygno-mw sql reco 11021 --where "sc_integral > 1000 and sc_length < 50" --format csv
    cygno-mw sql sc GasSystem_flow --start 2023-03-02 --stop 2023-03-03
    cygno-mw sql upgrade --db mysql+mysqlconnector://cygno@db.example/cygno

The database is --db, else $CYGNO_DB_URL, else sqlite:///cygno-out/cygno.sqlite. A password
is never put on the command line: it comes from $CYGNO_DB_PASSWORD or the file named by
$CYGNO_DB_PASSWORD_FILE, and is never printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cygno_mw.errors import UsageError

FORMATS = ("table", "csv", "json")


def _int64(text: str) -> int:
    """An integer option or argument that every SQL backend can compare with."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not -(1 << 63) <= number < 1 << 63:
        raise argparse.ArgumentTypeError(f"{text} is beyond the 64-bit integer range")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="sql_command", metavar="TABLE", required=True)

    def common(sub: argparse.ArgumentParser, *, columns: bool = True) -> None:
        sub.add_argument("--db", metavar="URL", help="database URL (default: $CYGNO_DB_URL, "
                         "else sqlite:///cygno-out/cygno.sqlite)")
        sub.add_argument("--format", choices=FORMATS, default="table",
                         help="output format (default: table)")
        sub.add_argument("--where", metavar="FILTER",
                         help="filter, e.g. \"sc_integral > 1000 and sc_length < 50\"")
        sub.add_argument("--limit", type=_int64, metavar="N", help="at most N rows")
        if columns:
            sub.add_argument("--columns", metavar="A,B,...", help="only these columns")

    runs = commands.add_parser("runs", help="the Run table")
    runs.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    runs.add_argument("--start", help="runs started at or after this time (UTC)")
    runs.add_argument("--stop", help="runs started before this time (UTC)")
    common(runs)

    reco = commands.add_parser("reco", help="clusters, one row each")
    reco.add_argument("runs", nargs="+", type=_int64, metavar="RUN")
    reco.add_argument("--camera", type=_int64)
    reco.add_argument("--event", type=_int64)
    common(reco)

    macro = commands.add_parser("macro", help="per-event summaries")
    macro.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    macro.add_argument("--camera", type=_int64)
    macro.add_argument("--start", help="events at or after this time (UTC)")
    macro.add_argument("--stop", help="events before this time (UTC)")
    common(macro)

    sc = commands.add_parser("sc", help="slow-control time series")
    sc.add_argument("variables", nargs="*", metavar="VARIABLE")
    sc.add_argument("--equipment")
    sc.add_argument("--run", type=_int64)
    sc.add_argument("--start", help="from this time (UTC)")
    sc.add_argument("--stop", help="until this time (UTC)")
    common(sc, columns=False)

    pedestals = commands.add_parser("pedestals", help="pedestal-map summaries")
    pedestals.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    pedestals.add_argument("--camera", type=_int64)
    common(pedestals, columns=False)

    upgrade = commands.add_parser("upgrade", help="create or upgrade the tables in place")
    upgrade.add_argument("--db", metavar="URL", help="database URL")

    runlog = commands.add_parser("import-runlog",
                                 help="load the experiment's Run table from its CSV export")
    runlog.add_argument("csv", metavar="CSV")
    runlog.add_argument("--db", metavar="URL", help="database URL")


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.outputs import database

    url = args.db or database.default_url()
    if args.sql_command == "upgrade":
        return _upgrade(url)
    if args.sql_command == "import-runlog":
        return _import_runlog(url, args.csv)

    from cygno_mw.analyzers.outputs.query import Database

    columns = args.columns.split(",") if getattr(args, "columns", None) else None
    with Database(url) as db:
        common: dict[str, Any] = {"where": args.where}
        if args.sql_command == "runs":
            frame = db.runs(args.runs or None, start=args.start, stop=args.stop,
                            columns=columns, limit=args.limit, **common)
        elif args.sql_command == "reco":
            frame = db.reco(runs=args.runs, camera=args.camera, event=args.event,
                            columns=columns, limit=args.limit, **common)
        elif args.sql_command == "macro":
            frame = db.macro(args.runs or None, camera=args.camera, start=args.start,
                             stop=args.stop, columns=columns, limit=args.limit, **common)
        elif args.sql_command == "sc":
            frame = db.slow_control(args.variables or None, args.start, args.stop,
                                    equipment=args.equipment, run=args.run,
                                    limit=args.limit, **common)
        else:
            frame = db.pedestals(args.runs or None, camera=args.camera, **common)
            if args.limit is not None:
                frame = frame.head(args.limit)
    _print(frame, args.format)
    return 0


def _print(frame: Any, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        text = "[]" if frame.empty else frame.to_json(orient="records", date_format="iso",
                                                      indent=1)
        sys.stdout.write(text + "\n")
    elif frame.empty:
        print("(no rows)")
    else:
        print(frame.to_string(index=False))


def _upgrade(url: str) -> int:
    from cygno_mw.analyzers.outputs import credentials, migrate
    from cygno_mw.analyzers.outputs.sql_writer import SqlSink

    sink = SqlSink(url, bulk_load=False)
    try:
        engine = sink.engine  # connects (with retries) and upgrades
        print(f"{credentials.safe_url(sink.url)}: schema at version "
              f"{migrate.current_revision(engine)}")
    finally:
        sink.close()
    return 0


def _import_runlog(url: str, path: str) -> int:
    from cygno_mw.analyzers.outputs.runlog import read_runlog_csv
    from cygno_mw.analyzers.outputs.sql_writer import SqlSink

    try:
        records = list(read_runlog_csv(path))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (give the Run table's CSV export)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text (CSV) file") from None
    with SqlSink(url, bulk_load=False) as sink:
        sink.write_runs(records)
    print(f"{len(records)} runs imported from {path}")
    return 0
