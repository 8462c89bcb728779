"""`cygno-mw sql`: read the Run, Reco, Macro, Slow Control and pedestal tables; set up a database.

    cygno-mw sql runs 11021 11022
    cygno-mw sql reco 11021 --where "sc_integral > 1000 and sc_length < 50" --format csv
    cygno-mw sql sc GasSystem_flow --start 2023-03-02 --stop 2023-03-03
    cygno-mw sql reco 11021 --pass nsigma08          # one processing pass (default: newest)
    cygno-mw sql passes                              # passes, their runs, status, changes
    cygno-mw sql passes --file cygno-out/reco/run11021_reco.parquet   # a reco file's
    cygno-mw sql compare replay nsigma08 11021       # matched clusters side by side
    cygno-mw sql attempts 11021                      # every try at the run: how, why
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
# examples shown by `cygno-mw sql TABLE --help`; each fits that table's columns
EXAMPLES = {
    "runs": """\
  cygno-mw sql runs                                  # every run
  cygno-mw sql runs 1 2 --columns run,start_time,number_of_events,reco_status
  cygno-mw sql runs --start 2023-03-02 --stop 2023-03-03 --where "reco_status = 'done'"
  cygno-mw sql runs --where "drift_v > 900 and exposure_s = 0.3" --format csv""",
    "reco": """\
  cygno-mw sql reco 2 --where "sc_integral > 10000" --columns event,sc_integral,sc_length
  cygno-mw sql reco 2 --event 3 --where "sc_length < 80 and sc_width < 50"
  cygno-mw sql reco 10 11 12 --columns run,event,sc_integral --format csv > fe55.csv""",
    "macro": """\
  cygno-mw sql macro 2 --columns event,nclusters,cmos_integral,processing_time_s
  cygno-mw sql macro 2 --where "nclusters >= 10"
  cygno-mw sql macro --start "2023-03-02 06:00" --stop "2023-03-02 07:00" --format json
  (the JSON column timings comes back as one column per step: timings_seeding, ...)""",
    "sc": """\
  cygno-mw sql sc --run 2 --limit 10                 # what was recorded during run 2
  cygno-mw sql sc "Gas pressure" Humidity --equipment Environment --run 2
  cygno-mw sql sc Drift --start 2023-03-02 --stop 2023-03-03 --where "value < 900"
""",
    "pedestals": """\
  cygno-mw sql pedestals                             # every pedestal map, where it is stored
  cygno-mw sql pedestals 1 --where "noise_mean < 3 and hot_pixels < 1000"
""",
    "attempts": """\
  cygno-mw sql attempts 2                            # every try at run 2, in any pass
  cygno-mw sql attempts --pass replay --where "status = 'failed'" --columns run,reason
""",
}


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

    def table(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog="examples:\n" + EXAMPLES[name].rstrip(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "examples:\n" + "\n".join(e.splitlines()[0] for e in EXAMPLES.values())

    runs = table("runs", "the Run table")
    runs.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    runs.add_argument("--start", help="runs started at or after this time (UTC)")
    runs.add_argument("--stop", help="runs started before this time (UTC)")
    common(runs)

    reco = table("reco", "clusters, one row each")
    reco.add_argument("runs", nargs="+", type=_int64, metavar="RUN")
    reco.add_argument("--camera", type=_int64)
    reco.add_argument("--event", type=_int64)
    reco.add_argument("--pass", dest="pass_name", metavar="NAME",
                      help="processing pass (default: each run's newest finished pass)")
    common(reco)

    macro = table("macro", "per-image summaries")
    macro.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    macro.add_argument("--camera", type=_int64)
    macro.add_argument("--start", help="events at or after this time (UTC)")
    macro.add_argument("--stop", help="events before this time (UTC)")
    macro.add_argument("--pass", dest="pass_name", metavar="NAME",
                       help="processing pass (default: each run's newest finished pass)")
    common(macro)

    sc = table("sc", "slow-control time series")
    sc.add_argument("variables", nargs="*", metavar="VARIABLE")
    sc.add_argument("--equipment")
    sc.add_argument("--run", type=_int64)
    sc.add_argument("--start", help="from this time (UTC)")
    sc.add_argument("--stop", help="until this time (UTC)")
    common(sc, columns=False)

    pedestals = table("pedestals", "pedestal-map summaries")
    pedestals.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    pedestals.add_argument("--camera", type=_int64)
    common(pedestals, columns=False)

    tried = table("attempts", "every try at a run in a pass: started, how it ended, why")
    tried.add_argument("runs", nargs="*", type=_int64, metavar="RUN")
    tried.add_argument("--pass", dest="pass_name", metavar="NAME", help="one pass's tries")
    common(tried)

    passes = commands.add_parser(
        "passes", help="processing passes: runs, status, parameter changes; or a reco "
        "file's provenance (--file)")
    passes.add_argument("names", nargs="*", metavar="PASS")
    passes.add_argument("--file", metavar="RECO_FILE",
                        help="print the provenance a reco file (Parquet or ROOT) carries")
    passes.add_argument("--runs", action="store_true",
                        help="one row per pass and run (pass_runs) instead")
    common(passes, columns=False)

    compare = commands.add_parser(
        "compare", help="two passes' clusters over the same runs, matched side by side")
    compare.add_argument("pass_a", metavar="PASS_A")
    compare.add_argument("pass_b", metavar="PASS_B")
    compare.add_argument("runs", nargs="*", type=_int64, metavar="RUN",
                         help="default: every run both passes cover")
    compare.add_argument("--camera", type=_int64)
    compare.add_argument("--max-distance", type=float, default=20.0, metavar="PX",
                         help="farthest two clusters may be and still match (default 20)")
    common(compare)

    upgrade = commands.add_parser("upgrade", help="create or upgrade the tables in place")
    upgrade.add_argument("--db", metavar="URL", help="database URL")

    runlog = commands.add_parser("import-runlog",
                                 help="load the experiment's Run table from its CSV export")
    runlog.add_argument("csv", metavar="CSV")
    runlog.add_argument("--db", metavar="URL", help="database URL")


def run(args: argparse.Namespace) -> int:
    from cygno_mw.analyzers.outputs import credentials, database

    url = args.db or database.default_url()
    if args.sql_command not in ("upgrade", "import-runlog"):
        from cygno_mw.home import find_database

        url = args.db
        if url is None:
            url, how = find_database()
            print(f"cygno-mw sql: {credentials.safe_url(url)} (from {how})", file=sys.stderr)
    if args.sql_command == "upgrade":
        return _upgrade(url)
    if args.sql_command == "import-runlog":
        return _import_runlog(url, args.csv)

    if args.sql_command == "passes" and args.file:
        return _file_provenance(args.file, args.format)

    from cygno_mw.analyzers.outputs.query import Database

    columns = args.columns.split(",") if getattr(args, "columns", None) else None
    with Database(url) as db:
        common: dict[str, Any] = {"where": args.where}
        if args.sql_command == "runs":
            frame = _with_coverage(db.runs(args.runs or None, start=args.start,
                                           stop=args.stop, columns=columns,
                                           limit=args.limit, **common))
        elif args.sql_command == "reco":
            frame = db.reco(runs=args.runs, camera=args.camera, event=args.event,
                            columns=columns, limit=args.limit, pass_=args.pass_name, **common)
        elif args.sql_command == "macro":
            frame = db.macro(args.runs or None, camera=args.camera, start=args.start,
                             stop=args.stop, columns=columns, limit=args.limit,
                             pass_=args.pass_name, **common)
        elif args.sql_command == "passes":
            frame = _passes(db, args)
        elif args.sql_command == "compare":
            frame = db.compare_passes(args.pass_a, args.pass_b, args.runs or None,
                                      camera=args.camera, max_distance=args.max_distance,
                                      columns=columns)
            frame = _filtered(frame, args.where, args.limit)
        elif args.sql_command == "attempts":
            frame = db.attempts(args.runs or None, pass_=args.pass_name, columns=columns,
                                limit=args.limit, **common)
        elif args.sql_command == "sc":
            frame = db.slow_control(args.variables or None, args.start, args.stop,
                                    equipment=args.equipment, runs=args.run,
                                    limit=args.limit, **common)
        else:
            frame = db.pedestals(args.runs or None, camera=args.camera, limit=args.limit,
                                 **common)
        missing = _missing_runs(db, args) if frame.empty else []
    _print(frame, args.format)
    if missing:
        listed = ", ".join(str(r) for r in missing)
        print(f"cygno-mw sql: run{'s' if len(missing) > 1 else ''} {listed} "
              f"{'are' if len(missing) > 1 else 'is'} not in the database "
              f"({credentials.safe_url(db.url)})", file=sys.stderr)
        return 1
    return 0


def _with_coverage(frame: Any) -> Any:
    """`coverage`: analyzed of taken events (number_of_events - skipped_events of
    number_of_events), after `reco_events`; a sampled run shows e.g. 60/92."""
    if not {"number_of_events", "skipped_events"} <= set(frame.columns):
        return frame
    taken = frame["number_of_events"]
    skipped = frame["skipped_events"].fillna(0)
    coverage = [f"{int(n - s)}/{int(n)}" if n == n else "" for n, s in zip(taken, skipped,
                                                                               strict=True)]
    position = (frame.columns.get_loc("reco_events") + 1 if "reco_events" in frame.columns
                else len(frame.columns))
    frame.insert(position, "coverage", coverage)
    return frame


def _missing_runs(db: Any, args: argparse.Namespace) -> list[int]:
    """The runs asked for by number that the database has no Run row of (to say so rather
    than print an empty table as if the run had no rows)."""
    runs = getattr(args, "runs", None)
    if args.sql_command in ("passes", "compare") or not runs or isinstance(runs, bool):
        return []
    return db.missing_runs(runs)


def _passes(db: Any, args: argparse.Namespace) -> Any:
    """`sql passes`: the passes (or their runs), without the bulky parameters column in a
    table (csv/json keep it)."""
    names = args.names or None
    if args.runs:
        frame = db.pass_runs(pass_=names)
    else:
        frame = db.passes(names)
        frame["runs"] = [_run_ranges(runs) for runs in frame["runs"]]
        if args.format == "table":
            frame = frame.drop(columns=["parameters", "parameters_hash", "vignette_map",
                                        "updated_at"])
    return _filtered(frame, args.where, args.limit)


def _filtered(frame: Any, where: str | None, limit: int | None) -> Any:
    if where:
        from cygno_mw.errors import UsageError

        raise UsageError("--where is not available here; filter the output instead")
    return frame if limit is None else frame.head(limit)


def _run_ranges(runs: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3,7'."""
    ranges: list[list[int]] = []
    for run in runs:
        if ranges and run == ranges[-1][1] + 1:
            ranges[-1][1] = run
        else:
            ranges.append([run, run])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _file_provenance(path: str, fmt: str) -> int:
    import json

    from cygno_mw.analyzers.reco_file import read_provenance

    provenance = read_provenance(path)
    if provenance is None:
        print(f"{path}: no provenance (written before processing passes)")
        return 1
    if fmt == "json":
        print(json.dumps(provenance, indent=1))
        return 0
    for key, value in provenance.items():
        if key == "parameters" and isinstance(value, str):
            for section, values in json.loads(value).items():
                for name, item in values.items():
                    print(f"parameters.{section}.{name}: {item}")
        else:
            print(f"{key}: {value}")
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
