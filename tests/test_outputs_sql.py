"""SQL outputs on SQLite and a real MariaDB: schema, migrations, round trips, idempotency."""

from __future__ import annotations

import csv
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cygno_mw.analyzers.outputs import migrate, schema
from cygno_mw.analyzers.outputs.errors import OutputError
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.runlog import read_runlog_csv
from cygno_mw.analyzers.outputs.sql_writer import SqlSink


def make_result(rng: np.random.Generator, n: int, *, scale: float = 1.0) -> dict:
    """One image's reconstruction output, in the shape the reconstruction returns it."""
    clusters = {name: rng.normal(100.0, 30.0, n) * scale for name in schema.CLUSTER_VARIABLES}
    clusters["sc_nhits"] = rng.integers(1, 5000, n)
    clusters["sc_size"] = rng.integers(1, 500, n).astype(np.float64)  # integral floats
    image = {"cmos_integral": float(rng.uniform(1e5, 1e6)), "cmos_mean": 1.5, "cmos_rms": 2.5,
             "nclusters": n}
    return {"clusters": clusters, "image": image,
            "timings": {"pedestal": 0.01, "clustering": 0.05, "variables": 0.02}}


def count(url: str, table: str, where: str = "") -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table} {where}").scalar_one()
    finally:
        engine.dispose()


def test_event_round_trip(sql_url: str) -> None:
    rng = np.random.default_rng(1)
    results = [make_result(rng, n) for n in (3, 0, 5)]
    results[0]["clusters"]["sc_rms"][1] = np.nan  # a failed fit: stored as NULL
    results[0]["clusters"]["sc_xycorr"][2] = np.inf
    start = dt.datetime(2023, 3, 2, 6, 41, 33, 123456)
    with SqlSink(sql_url) as sink:
        for event, result in enumerate(results):
            sink.write_event(11021, event, 0, result, time=start + dt.timedelta(seconds=event),
                             backend="numpy", pedestal_mean=99.5, noise_mean=2.25)

    db = Database(sql_url)
    reco = db.reco(11021)
    assert len(reco) == 8
    assert reco[["event", "cluster"]].values.tolist() == [
        [0, 0], [0, 1], [0, 2], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4]]
    expected = np.concatenate([results[0]["clusters"]["sc_integral"],
                               results[2]["clusters"]["sc_integral"]])
    assert reco["sc_integral"].tolist() == expected.tolist()  # exact, not approximate
    assert reco["sc_nhits"].dtype == np.int64
    assert math.isnan(reco.loc[1, "sc_rms"]) and math.isnan(reco.loc[2, "sc_xycorr"])

    macro = db.macro(11021)
    assert macro["nclusters"].tolist() == [3, 0, 5]
    assert macro["time"].iloc[0].to_pydatetime() == start
    assert macro["backend"].tolist() == ["numpy"] * 3
    assert macro["processing_time_s"].iloc[0] == pytest.approx(0.08)
    assert macro["pedestal_mean"].tolist() == [99.5] * 3
    assert macro["cmos_integral"].iloc[2] == results[2]["image"]["cmos_integral"]
    db.close()


def test_sqlite_multirow_statements_split_exactly(tmp_path, monkeypatch) -> None:
    """SQLite inserts several rows per statement; full statements and the shorter last one
    store every value exactly, counts as integers, NaN/inf as NULL."""
    from cygno_mw.analyzers.outputs import sql_ops

    monkeypatch.setattr(sql_ops, "MULTIROW_ROWS", 3)  # 8 clusters: statements of 3, 3, 2
    rng = np.random.default_rng(5)
    results = [make_result(rng, n) for n in (3, 0, 5)]
    results[2]["clusters"]["sc_rms"][4] = -np.inf
    url = f"sqlite:///{tmp_path}/multirow.sqlite"
    with SqlSink(url) as sink:
        for event, result in enumerate(results):
            sink.write_event(5, event, 0, result)
    db = Database(url)
    reco = db.reco(5)
    db.close()
    for name in ("sc_integral", "sc_nhits", "sc_size"):
        expected = np.concatenate([results[0]["clusters"][name], results[2]["clusters"][name]])
        assert reco[name].tolist() == expected.tolist()
    assert reco["cluster"].tolist() == [0, 1, 2, 0, 1, 2, 3, 4]
    assert reco["sc_nhits"].dtype == np.int64
    assert count(url, "reco", "WHERE sc_rms IS NULL") == 1


def test_reprocessing_replaces_rows(sql_url: str) -> None:
    rng = np.random.default_rng(2)
    with SqlSink(sql_url) as sink:
        for camera in (0, 1):
            for event in range(4):
                sink.write_event(7, event, camera, make_result(rng, 4))
        sink.flush()
        # Same events again, fewer clusters: replaced, not added to.
        for event in range(4):
            sink.write_event(7, event, 0, make_result(rng, 2))
        sink.flush()
        assert count(sql_url, "reco", "WHERE camera = 0") == 8
        assert count(sql_url, "reco", "WHERE camera = 1") == 16
        # Re-processing camera 0 of run 7 with only 1 event left: the rest of it goes.
        sink.begin_run(7, camera=0)
        sink.write_event(7, 0, 0, make_result(rng, 1))
        sink.flush()
    assert count(sql_url, "reco", "WHERE camera = 0") == 1
    assert count(sql_url, "macro", "WHERE camera = 0") == 1
    assert count(sql_url, "reco", "WHERE camera = 1") == 16  # other camera untouched


def test_same_batch_written_twice_is_stored_once(sql_url: str) -> None:
    """What a retry after an unacknowledged commit does: the rows end up there once."""
    rng = np.random.default_rng(3)
    sink = SqlSink(sql_url)
    for event in range(10):
        sink.write_event(8, event, 0, make_result(rng, 3))
    batch = sink.take_batch()
    sink.write_batch(batch)
    sink.write_batch(batch)
    sink.close()
    assert count(sql_url, "reco") == 30
    assert count(sql_url, "macro") == 10


def test_runlog_csv_round_trip(sql_url: str, shared_data) -> None:
    path = shared_data / "runlog_lime_lngs_sample.csv"
    with SqlSink(sql_url) as sink:
        sink.write_runs(read_runlog_csv(path))
        sink.update_run(11021, reco_status="done", partial=True, file_name="run11021.mid.gz")
    runs = Database(sql_url).runs()
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(runs) == len(rows) == 252
    assert set(schema.RUNLOG_COLUMNS.values()) <= set(runs.columns)
    by_run = runs.set_index("run")
    for row in rows:
        stored = by_run.loc[int(row["run_number"])]
        for header, column in schema.RUNLOG_COLUMNS.items():
            if column == "run":
                continue
            value, got = row[header], stored[column]
            if value == "":
                assert pd.isna(got), (header, got)
            elif column.endswith("_time"):
                assert got.to_pydatetime() == dt.datetime.fromisoformat(value), header
            elif isinstance(got, str):
                assert got == value, header
            else:
                assert float(got) == float(value), header
    assert by_run.loc[11021, "reco_status"] == "done"
    assert bool(by_run.loc[11021, "partial"]) is True
    assert by_run.loc[11021, "description"].startswith("S003:DATA:Fe")  # kept by update


def test_slow_control_and_pedestals(sql_url: str) -> None:
    t0 = dt.datetime(2023, 3, 2, 6, 0, tzinfo=dt.timezone.utc)
    samples = [{"time": t0 + dt.timedelta(minutes=i), "equipment": "GasSystem",
                "variable": "flow", "value": 20.0 + i, "run": 11021} for i in range(10)]
    with SqlSink(sql_url) as sink:
        sink.write_slow_control(samples)
        sink.write_slow_control(samples[:2])  # replayed samples replace, not duplicate
        sink.write_slow_control([{"time": t0, "equipment": "HV", "variable": "gem1_v",
                                  "value": 420.0}])
        sink.write_pedestal(11020, 0, map_location="s3://cygno/run11020/pedestal.npz",
                            n_images=100, pedestal_mean=99.8, noise_mean=2.1, hot_pixels=3)
        sink.write_pedestal(11020, 0, map_location="/data/pedestal.npz", n_images=200)
    db = Database(sql_url)
    flow = db.slow_control("flow", t0 + dt.timedelta(minutes=2), t0 + dt.timedelta(minutes=5))
    assert flow["value"].tolist() == [22.0, 23.0, 24.0]
    assert len(db.slow_control(["flow", "gem1_v"])) == 11
    pedestals = db.pedestals(11020)
    assert len(pedestals) == 1
    assert pedestals.loc[0, "map_location"] == "/data/pedestal.npz"
    assert pedestals.loc[0, "n_images"] == 200
    assert pedestals.loc[0, "noise_mean"] == 2.1  # kept from the first write


def test_migrations_build_exactly_the_schema(sql_url: str) -> None:
    with SqlSink(sql_url) as sink:
        engine = sink.engine
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.upgrade(engine)  # again: a no-op
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, schema.metadata)
        assert [d for d in differences if "cygno_schema_version" not in str(d)] == []


def test_bad_results_are_clear_errors(tmp_path) -> None:
    sink = SqlSink(f"sqlite:///{tmp_path / 'x.sqlite'}")
    rng = np.random.default_rng(4)
    result = make_result(rng, 3)
    del result["clusters"]["sc_theta"]
    with pytest.raises(OutputError, match="sc_theta"):
        sink.write_event(1, 0, 0, result)
    result = make_result(rng, 3)
    result["clusters"]["sc_width"] = np.ones(4)
    with pytest.raises(OutputError, match="sc_width has 4 values"):
        sink.write_event(1, 0, 0, result)
    with pytest.raises(OutputError, match="clusters"):
        sink.write_event(1, 0, 0, {"image": {}})
    with pytest.raises(OutputError, match="unknown pedestal statistics"):
        sink.write_pedestal(1, 0, map_location="x", colour="red")
    sink.close()


def test_result_object_with_attributes(tmp_path) -> None:
    """The reconstruction may return an object with .clusters/.image/.timings."""

    class Result:
        def __init__(self, clusters: dict, image: dict) -> None:
            self.clusters, self.image, self.timings = clusters, image, {"total": 0.5}

    rng = np.random.default_rng(5)
    raw = make_result(rng, 2)
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    with SqlSink(url) as sink:
        sink.write_event(3, 1, 2, Result(raw["clusters"], raw["image"]))
    macro = Database(url).macro(3)
    assert macro.loc[0, "camera"] == 2 and macro.loc[0, "processing_time_s"] == 0.5


def test_flush_after_seconds_and_batch_size(tmp_path) -> None:
    """Online use: rows reach the database once the buffer is full or old enough."""
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    rng = np.random.default_rng(6)
    sink = SqlSink(url, batch_rows=12)
    sink.write_event(1, 0, 0, make_result(rng, 5))  # 6 rows buffered
    assert sink.pending_rows == 6
    sink.write_event(1, 1, 0, make_result(rng, 5))  # 12 rows: flushed
    assert sink.pending_rows == 0 and count(url, "reco") == 10
    sink.close()
    sink = SqlSink(url, flush_after_s=0.0)
    sink.write_event(1, 2, 0, make_result(rng, 1))
    assert sink.pending_rows == 0 and count(url, "reco") == 11
    sink.close()


OPEN_SINK = """
import sys
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
sink = SqlSink(sys.argv[1])
sink.connect()
sink.close()
"""


def test_concurrent_writers_create_a_new_database_once(sql_url: str, tmp_path) -> None:
    """Several sinks (threads here, processes too for SQLite) opening the same new database
    at once: no error, one schema at head (the migration takes turns under a lock)."""
    import subprocess
    import sys
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        try:
            start.wait()
            with SqlSink(sql_url) as sink:
                sink.update_run(1, reco_status="running")
        except BaseException as err:  # reported by the assert below
            errors.append(err)

    processes = []
    if sql_url.startswith("sqlite"):
        processes = [subprocess.Popen([sys.executable, "-c", OPEN_SINK, sql_url],
                                      stderr=subprocess.PIPE, text=True) for _ in range(3)]
    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert errors == []
    engine = sa.create_engine(sql_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    assert count(sql_url, "runs") == 1


def test_run_counts_are_added_sql_side(sql_url: str, tmp_path) -> None:
    """Processes sharing a run add their counters to the Run row (created if missing); the
    additions survive a trip through the on-disk spool."""
    from cygno_mw.analyzers.outputs.batch import Batch
    from cygno_mw.analyzers.outputs.spool import _read_batch, _write_batch

    with SqlSink(sql_url) as sink:
        sink.update_run(5, reco_status="running", reco_events=0, number_of_events=0)
        sink.flush()
        sink.add_run_counts(5, reco_events=3, number_of_events=4)
        sink.add_run_counts(5, reco_events=2)
        sink.add_run_counts(6, number_of_events=7)
        sink.flush()
        with pytest.raises(OutputError, match="cannot add"):
            sink.add_run_counts(5, reco_status=1)
        folder = tmp_path / "batch"
        folder.mkdir()
        _write_batch(Batch(add_counts=[(5, {"reco_events": 10})]), folder)
        sink.write_batch(_read_batch(folder))
    runs = Database(sql_url).runs().set_index("run")
    assert int(runs.loc[5, "reco_events"]) == 15 and int(runs.loc[5, "number_of_events"]) == 4
    assert runs.loc[5, "reco_status"] == "running"
    assert int(runs.loc[6, "number_of_events"]) == 7
