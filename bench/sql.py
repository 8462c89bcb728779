"""Bench: 100,000 cluster rows through `SqlSink` vs a bare DB-API `executemany` of the same rows.

    .venv/bin/python bench/sql.py [--rows 100000] [--repeats 5] [--sqlite-only]

Both run on the same database, same tables, emptied before each measurement: a SQLite file in
a temporary folder, and a private MariaDB server started in a temporary folder the way the
tests start it (tests/servers.py). Our side starts from the reconstruction's NumPy output
(2,000 images x 50 clusters, plus one `macro` row per image) and ends at the commit; the bare
side is handed the very same rows already as Python tuples and runs `cursor.executemany` for
`reco` and `macro` on a raw driver connection, then commits. Medians over the repeats, taken
alternately. Goals: ours >= 0.8 x bare and >= 50,000 cluster rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the shared server helpers

from cygno_mw.analyzers.outputs import schema  # noqa: E402
from cygno_mw.analyzers.outputs.batch import column_to_list  # noqa: E402
from cygno_mw.analyzers.outputs.sql_writer import SqlSink  # noqa: E402

CLUSTERS_PER_IMAGE = 50
T0 = dt.datetime(2023, 3, 2, 6, 41, 33)


def make_results(rows: int, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(rows // CLUSTERS_PER_IMAGE):
        clusters = {v: rng.normal(500.0, 100.0, CLUSTERS_PER_IMAGE)
                    for v in schema.CLUSTER_VARIABLES}
        clusters["sc_nhits"] = rng.integers(10, 5000, CLUSTERS_PER_IMAGE)
        clusters["sc_size"] = rng.integers(10, 500, CLUSTERS_PER_IMAGE)
        results.append({"clusters": clusters,
                        "image": {"cmos_integral": 1e6, "cmos_mean": 1.2, "cmos_rms": 2.3,
                                  "nclusters": CLUSTERS_PER_IMAGE},
                        "timings": {"total": 0.1}})
    return results


def bare_rows(results: list[dict], run: int, time_as_text: bool) -> tuple[list, list]:
    """The rows our writer stores, as plain tuples (built before the clock starts)."""
    reco, macro = [], []
    for event, result in enumerate(results):
        clusters = result["clusters"]
        columns = [column_to_list(np.asarray(clusters[v])) for v in schema.CLUSTER_VARIABLES]
        for index, values in enumerate(zip(*columns, strict=True)):
            reco.append(("replay", run, 0, event, index, *values))
        image = result["image"]
        stamp = T0 + dt.timedelta(seconds=event)
        macro.append(("replay", run, 0, event, stamp.isoformat(" ") if time_as_text else stamp,
                      CLUSTERS_PER_IMAGE, image["cmos_integral"], image["cmos_mean"],
                      image["cmos_rms"], None, None, None, 0.1, "numpy", '{"total": 0.1}'))
    return reco, macro


def run_ours(sink: SqlSink, results: list[dict], run: int) -> float:
    start = time.perf_counter()
    sink.begin_run(run, 0)
    for event, result in enumerate(results):
        sink.write_event(run, event, 0, result, time=T0 + dt.timedelta(seconds=event),
                         backend="numpy")
    sink.flush()
    return time.perf_counter() - start


def run_bare(sink: SqlSink, reco: list, macro: list, placeholder: str) -> float:
    def insert(table) -> str:
        names = ", ".join(c.name for c in table.columns)
        marks = ", ".join([placeholder] * len(table.columns))
        return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"

    raw = sink.engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        cursor.executemany(insert(schema.reco), reco)
        cursor.executemany(insert(schema.macro), macro)
        raw.commit()
        elapsed = time.perf_counter() - start
        cursor.close()
    finally:
        raw.close()
    return elapsed


def empty_tables(sink: SqlSink) -> None:
    with sink.engine.begin() as conn:
        for table in ("reco", "macro"):
            conn.exec_driver_sql(f"DELETE FROM {table}")


def bench(label: str, url: str, rows: int, repeats: int) -> dict[str, float]:
    results = make_results(rows)
    mysql = url.startswith("mysql")
    reco, macro = bare_rows(results, run=2, time_as_text=not mysql)
    sink = SqlSink(url, batch_rows=10 * rows)
    # Warm-up (imports, first connection, schema) outside the clock.
    run_ours(sink, results[:10], run=1)
    empty_tables(sink)
    ours, bare = [], []
    for _ in range(repeats):
        ours.append(run_ours(sink, results, run=1))
        empty_tables(sink)
        bare.append(run_bare(sink, reco, macro, "%s" if mysql else "?"))
        empty_tables(sink)
    sink.close()
    ours_rate = rows / statistics.median(ours)
    bare_rate = rows / statistics.median(bare)
    ratio = ours_rate / bare_rate
    print(f"{label:8s} ours {ours_rate:10,.0f} rows/s   bare executemany {bare_rate:10,.0f} rows/s"
          f"   ratio {ratio:5.2f}  (goal >= 0.80: {'ok' if ratio >= 0.8 else 'MISSED'};"
          f" >= 50,000 rows/s: {'ok' if ours_rate >= 50_000 else 'MISSED'})")
    print(f"{'':8s} times ours {[round(t, 3) for t in ours]} s, bare "
          f"{[round(t, 3) for t in bare]} s ({len(results)} macro rows ride along in both)")
    return {"ours": ours_rate, "bare": bare_rate, "ratio": ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"{args.rows:,} cluster rows ({args.rows // CLUSTERS_PER_IMAGE:,} images x "
          f"{CLUSTERS_PER_IMAGE}), median of {args.repeats}")
    with tempfile.TemporaryDirectory(prefix="cygno-bench-sql-") as folder:
        bench("SQLite", f"sqlite:///{folder}/bench.sqlite", args.rows, args.repeats)
    if args.sqlite_only:
        return 0
    from servers import MariaDBServer, ServerUnavailable

    try:
        with MariaDBServer() as server:
            url = server.url(server.create_database("bench"))
            bench("MariaDB", url, args.rows, args.repeats)
    except ServerUnavailable as exc:
        print(f"MariaDB  skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
