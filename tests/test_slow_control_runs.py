"""Slow-control rows belong to their run: one run never takes another's samples
(issue 12, defect 9)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from cygno_mw.analyzers.outputs import migrate
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.cli import main
from cygno_mw.midasfile import open_midas
from cygno_mw.simulation.odb import default_start_time
from cygno_mw.simulation.run import simulate_run

T0 = dt.datetime(2023, 12, 14, 22, 33, 17)


def samples(run: int | None) -> list[dict]:
    return [{"time": T0 + dt.timedelta(seconds=60 * i), "equipment": "HV",
             "variable": "VGEM1", "value": 400.0 + i, "run": run} for i in range(3)]


def test_two_runs_with_equal_times_keep_their_rows(sql_url: str) -> None:
    with SqlSink(sql_url) as sink:
        sink.write_slow_control(samples(1))
        sink.write_slow_control(samples(2))
        sink.write_slow_control(samples(2))  # replayed: replaces its own, not run 1's
        sink.write_slow_control(samples(None))  # outside any run: run 0
    with Database(sql_url) as db:
        rows = db.slow_control("VGEM1")
    assert sorted(rows.groupby("run").size().to_dict().items()) == [(0, 3), (1, 3), (2, 3)]


def test_an_existing_database_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO slow_control (variable, equipment, time, run, value) VALUES "
            "('VGEM1', 'HV', '2023-12-14 22:33:17.000000', 5, 1.0), "
            "('flow', 'Gas', '2023-12-14 22:33:17.000000', NULL, 2.0)"))
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()  # 0002 and later
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT variable, run, value FROM slow_control ORDER BY variable")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("VGEM1", 5, 1.0), ("flow", 0, 2.0)]
    with SqlSink(url) as sink:  # and the upgraded table takes a second run at the same time
        sink.write_slow_control([{"time": T0, "equipment": "HV", "variable": "VGEM1",
                                  "value": 3.0, "run": 6}])
    with Database(url) as db:
        assert sorted(db.slow_control("VGEM1")["run"].tolist()) == [5, 6]


def test_simulated_runs_start_at_distinct_times(tmp_path: Path) -> None:
    assert len({default_start_time(run) for run in range(1, 200)}) == 199
    run = simulate_run(tmp_path / "run00003.mid", 3, 0, with_pmt=False)
    with open_midas(run.path) as midas:
        assert midas.bor_odb["Runinfo"]["Start time binary"] == default_start_time(3)
        assert midas.bor_event.timestamp == default_start_time(3)
    assert main(["simulate", "--run", "4", "--events", "0", "-q", "--no-pmt",
                 "--start-time", "2024-05-01T12:00:00", "-o", str(tmp_path / "r4.mid")]) == 0
    with open_midas(tmp_path / "r4.mid") as midas:
        start = midas.bor_odb["Runinfo"]["Start time binary"]
    assert start == int(dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc).timestamp())
    assert main(["simulate", "--run", "4", "--events", "0", "--start-time", "soon",
                 "-o", str(tmp_path / "r5.mid")]) == 2


def test_three_replayed_runs_keep_all_their_samples(tmp_path: Path) -> None:
    """The worst case: three runs simulated with the same start time, so equal sample times."""
    paths = [simulate_run(tmp_path / f"run{n:05d}.mid.lz4", n, 2, pedestal=n == 1,
                          with_pmt=False, start_time=default_start_time(1)).path
             for n in (1, 2, 3)]
    out = tmp_path / "out"
    counts = []
    for path in paths:
        assert main(["replay", "-q", "-o", str(out), str(path)]) == 0
        with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
            counts.append(db.slow_control(runs=None).groupby("run").size().to_dict())
    per_run = counts[0][1]
    assert per_run > 0
    assert counts[-1] == {1: per_run, 2: per_run, 3: per_run}
    with Database(f"sqlite:///{out / 'cygno.sqlite'}") as db:
        summary = db.runs([1, 2, 3])
    assert summary["reco_status"].tolist() == ["done"] * 3
