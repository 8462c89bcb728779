"""Processing passes: results of two parameter sets coexist, a conflicting pass is refused, a
killed pass leaves the others untouched, old databases upgrade in place, and reco files
carry the provenance of their pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from test_outputs_sql import make_result

from cygno_mw.analyzers.outputs import migrate
from cygno_mw.analyzers.outputs.database import create_db_engine
from cygno_mw.analyzers.outputs.passes import PassConflictError
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.analyzers.reco_file import read_provenance
from cygno_mw.cli import main
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

SHAPE = (512, 512)
SMALL = ["--set", "reco.xmax=512", "--set", "reco.ymin=0", "--set", "reco.ymax=512",
         "--set", "reco.backend=numpy"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    pedestal = simulate_run(folder / "run00010.mid.lz4", 10, 3, pedestal=True, shape=SHAPE,
                            with_pmt=False)
    physics = simulate_run(folder / "run00011.mid.lz4", 11, 4, shape=SHAPE, with_pmt=False,
                           mix=SignalMix(fe55=4, muon=1, nr=0, er=0))
    long = simulate_run(folder / "run00012.mid.lz4", 12, 80, shape=SHAPE, with_pmt=False,
                        mix=SignalMix(fe55=4, muon=1, nr=0, er=0))
    return {"pedestal": pedestal.path, "physics": physics.path, "long": long.path}


def replay(out: Path, *args: str) -> int:
    return main(["replay", "-q", "-o", str(out), *SMALL, *args])


@pytest.fixture(scope="module")
def two_passes(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs 10 and 11 in pass `replay` (nsigma 0.6), run 11 again in `strict` (nsigma 1.5)."""
    out = tmp_path_factory.mktemp("out")
    assert replay(out, str(runs["pedestal"]), str(runs["physics"])) == 0
    assert replay(out, "--pass", "strict", "--set", "reco.nsigma=1.5",
                  str(runs["physics"])) == 0
    return out


def database(out: Path) -> Database:
    return Database(f"sqlite:///{out / 'cygno.sqlite'}")


def test_two_passes_coexist_and_differ(two_passes: Path) -> None:
    with database(two_passes) as db:
        loose = db.reco(11, pass_="replay")
        strict = db.reco(11, pass_="strict")
        default = db.reco(11)
        passes = db.passes().set_index("pass_name")
        chosen = db.default_passes([10, 11])
        macro = db.macro(11, pass_="replay")
    assert len(loose) > 0 and len(strict) > 0
    # a higher zero-suppression threshold keeps fewer pixels per cluster
    assert strict["sc_nhits"].sum() < loose["sc_nhits"].sum()
    assert len(macro) == 4
    # default: each run's newest finished pass
    assert chosen == {10: "replay", 11: "strict"}
    assert default.equals(strict)
    assert set(passes.index) == {"replay", "strict"}
    assert (passes["status"] == "finished").all()
    assert passes.loc["strict", "differences"] == "Reco.nsigma: 0.6 -> 1.5"
    assert passes.loc["replay", "runs"] == [10, 11] and passes.loc["strict", "runs"] == [11]
    assert json.loads(passes.loc["strict", "parameters"])["Reco"]["nsigma"] == 1.5
    assert passes.loc["strict", "revision"] and passes.loc["strict", "version"]
    assert passes.loc["strict", "vignette_sha256"] == "builtin"


def test_comparing_two_passes_pairs_clusters(two_passes: Path) -> None:
    with database(two_passes) as db:
        side = db.compare_passes("replay", "strict", columns=["sc_integral", "sc_nhits"])
        loose, strict = db.reco(11, pass_="replay"), db.reco(11, pass_="strict")
    assert list(side.columns) == ["run", "camera", "event", "match", "distance",
                                  "sc_integral_replay", "sc_integral_strict",
                                  "sc_nhits_replay", "sc_nhits_strict"]
    both = side[side["match"] == "both"]
    assert len(both) > 0 and (both["distance"] <= 20).all()
    # every cluster of each pass appears exactly once
    assert side["sc_nhits_replay"].notna().sum() == len(loose)
    assert side["sc_nhits_strict"].notna().sum() == len(strict)
    assert (both["sc_nhits_strict"] <= both["sc_nhits_replay"]).mean() > 0.8


def test_same_pass_other_parameters_is_refused(two_passes: Path, runs, capsys) -> None:
    with database(two_passes) as db:
        before = len(db.reco(11, pass_="replay"))
    assert replay(two_passes, "--set", "reco.nsigma=0.9", str(runs["physics"])) == 2
    err = capsys.readouterr().err
    assert "pass 'replay' already exists with other parameters" in err
    assert "Reco.nsigma: 0.6 -> 0.9" in err and "--pass NAME" in err
    # same parameters: replaced in place, nothing duplicated; execution settings may differ
    assert replay(two_passes, "--set", "reco.batch_size=2", str(runs["physics"])) == 0
    with database(two_passes) as db:
        assert len(db.reco(11, pass_="replay")) == before
        assert len(db.reco(11, pass_="strict")) > 0


def test_cli_passes_and_pass_selection(two_passes: Path, capsys) -> None:
    url = f"sqlite:///{two_passes / 'cygno.sqlite'}"
    assert main(["sql", "passes", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "strict" in out and "Reco.nsigma: 0.6 -> 1.5" in out and "10-11" in out
    assert main(["sql", "passes", "--runs", "--db", url, "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 1 + 3  # replay 10, 11; strict 11
    assert main(["sql", "reco", "11", "--pass", "replay", "--db", url, "--format",
                 "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    with database(two_passes) as db:
        assert len(rows) == len(db.reco(11, pass_="replay"))
    assert main(["sql", "compare", "replay", "strict", "11", "--db", url, "--columns",
                 "sc_integral", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith(
        "run,camera,event,match,distance,sc_integral_replay,sc_integral_strict")


def test_reco_file_provenance_matches_its_pass(two_passes: Path, runs, capsys) -> None:
    assert replay(two_passes, "--pass", "rootfile", "--set", "output.reco_file_format=root",
                  str(runs["physics"])) == 0
    with database(two_passes) as db:
        rows = db.passes().set_index("pass_name")
        used = db.pass_runs(11).set_index("pass_name")
    for name, path in (("strict", two_passes / "reco" / "run00011_reco_strict.parquet"),
                       ("rootfile", two_passes / "reco" / "run00011_reco_rootfile.root")):
        provenance = read_provenance(path)
        assert provenance is not None
        row = rows.loc[provenance["pass_name"]]
        assert provenance["pass_name"] == name
        for key in ("version", "revision", "parameters", "parameters_hash",
                    "vignette_sha256", "host"):
            assert provenance[key] == row[key], key
        assert provenance["run"] == 11 and provenance["backend"] == "numpy"
        pedestals = json.loads(used.loc[name, "pedestals"])
        assert provenance["pedestals"] == pedestals
        assert pedestals["0"]["run"] == 10 and len(pedestals["0"]["sha256"]) == 64
    assert main(["sql", "passes", "--file",
                 str(two_passes / "reco" / "run00011_reco_rootfile.root")]) == 0
    out = capsys.readouterr().out
    assert "pass_name: rootfile" in out and "parameters.Reco.nsigma: 0.6" in out


def test_killed_pass_leaves_the_previous_one_untouched(two_passes: Path, runs) -> None:
    url = f"sqlite:///{two_passes / 'cygno.sqlite'}"
    assert replay(two_passes, str(runs["long"])) == 0
    with database(two_passes) as db:
        before = db.reco(12, pass_="replay")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cygno_mw", "replay", "-q", "-o", str(two_passes), *SMALL,
         "--pass", "killed", "--set", "reco.nsigma=1.0", str(runs["long"])], env=env)
    engine = create_db_engine(url)
    try:
        deadline = time.monotonic() + 120
        registered = False
        while time.monotonic() < deadline and process.poll() is None and not registered:
            with engine.connect() as conn:
                registered = conn.execute(sa.text(
                    "SELECT count(*) FROM passes WHERE pass_name = 'killed'")).scalar() == 1
            time.sleep(0.02)
        assert registered and process.poll() is None, "the pass ended before it was killed"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()
    with database(two_passes) as db:
        killed = db.passes("killed").iloc[0]
        after = db.reco(12, pass_="replay")
        assert db.default_passes([12]) == {12: "replay"}
        assert db.reco(12).equals(after)
    assert killed["status"] == "unfinished" and killed["finished_at"] is pd_nat()
    assert after.equals(before)


def pd_nat():
    import pandas as pd

    return pd.NaT


def test_sql_passes_coexist_and_conflict(sql_url: str) -> None:
    """SqlSink level, on SQLite and MariaDB: rows, deletes and the conflict check per pass."""
    rng = np.random.default_rng(3)
    record = {"parameters": json.dumps({"Reco": {"nsigma": 0.6}}), "parameters_hash": "a"}
    for name, n in (("p1", 3), ("p2", 5)):
        with SqlSink(sql_url, pass_name=name) as sink:
            sink.register_pass(record)
            sink.begin_run(7)
            for event in range(2):
                sink.write_event(7, event, 0, make_result(rng, n))
            sink.update_pass_run(7, status="done")
            sink.finish_pass()
    with SqlSink(sql_url, pass_name="p1") as sink:  # re-processing p1 leaves p2 alone
        sink.register_pass(record)
        sink.begin_run(7)
        sink.write_event(7, 0, 0, make_result(rng, 1))
    with SqlSink(sql_url, pass_name="p2") as sink, \
            pytest.raises(PassConflictError, match=r"Reco\.nsigma: 0\.6 -> 0\.7"):
        sink.register_pass({"parameters": json.dumps({"Reco": {"nsigma": 0.7}}),
                            "parameters_hash": "b"})
    with Database(sql_url) as db:
        assert len(db.reco(7, pass_="p1")) == 1 and len(db.reco(7, pass_="p2")) == 10
        assert len(db.macro(7, pass_="p2")) == 2
        assert db.default_passes(7) == {7: "p2"}  # p1's rerun has not finished
        assert db.passes().set_index("pass_name").loc["p1", "status"] == "unfinished"


def test_migration_keeps_every_row_in_the_legacy_pass(sql_url: str) -> None:
    """A database written by schema 0001, filled, then upgraded in place."""
    engine = create_db_engine(sql_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO runs (run, reco_status, reco_backend) VALUES "
                                 "(1, 'done', 'numpy'), (2, 'partial', 'cupy'), (3, NULL, NULL)"))
            for run in (1, 2):
                for event in range(3):
                    conn.execute(sa.text(
                        "INSERT INTO macro (run, camera, event, nclusters, backend) "
                        "VALUES (:r, 0, :e, 2, 'numpy')"), {"r": run, "e": event})
                    for cluster in range(2):
                        conn.execute(sa.text(
                            "INSERT INTO reco (run, camera, event, cluster, sc_integral) "
                            "VALUES (:r, 0, :e, :c, :v)"),
                            {"r": run, "e": event, "c": cluster, "v": 100.0 * cluster + event})
            conn.execute(sa.text("INSERT INTO pedestals (run, camera, n_images) "
                                 "VALUES (9, 0, 5)"))
            conn.execute(sa.text("INSERT INTO slow_control (variable, equipment, time, value) "
                                 "VALUES ('flow', 'Gas', '2026-01-01 00:00:00', 1.5)"))
        assert migrate.current_revision(engine) == "0001"
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    with Database(sql_url) as db:
        reco, macro = db.reco(runs=[1, 2]), db.macro([1, 2])
        assert len(reco) == 12 and len(macro) == 6
        assert set(reco["pass_name"]) == {"legacy"} == set(macro["pass_name"])
        # 0004: the old uncorrected sc_integral is sc_rawintegral now
        assert sorted(reco["sc_rawintegral"]) == sorted(
            100.0 * c + e for c in range(2) for e in range(3) for _ in (1, 2))
        assert len(db.runs()) == 3 and len(db.pedestals()) == 1
        assert len(db.slow_control()) == 1
        legacy = db.passes().set_index("pass_name").loc["legacy"]
        assert legacy["status"] == "finished" and legacy["runs"] == [1, 2]
        statuses = db.pass_runs().set_index("run")["status"].to_dict()
        assert statuses == {1: "done", 2: "partial"}
    # new results go beside the legacy ones
    with SqlSink(sql_url) as sink:
        sink.begin_run(1)
        sink.write_event(1, 0, 0, make_result(np.random.default_rng(1), 4))
    with Database(sql_url) as db:
        assert len(db.reco(1, pass_="legacy")) == 6 and len(db.reco(1, pass_="replay")) == 4


def test_spooled_batches_keep_their_pass(tmp_path: Path) -> None:
    from cygno_mw.analyzers.outputs.batch import Batch
    from cygno_mw.analyzers.outputs.spool import Spool

    spool = Spool(tmp_path / "spool")
    spool.append(Batch(replace_runs=[(3, None)], pass_name="online-2"))
    spool.append(Batch(replace_runs=[(4, 0)]))  # written before passes: the writer's pass
    first = spool.oldest()
    assert first is not None and first[1].pass_name == "online-2"
    spool.remove(first[0])
    second = spool.oldest()
    assert second is not None and second[1].pass_name is None


def test_online_sinks_never_refuse_a_pass(tmp_path: Path) -> None:
    """Online, parameters changed under the same pass name go to `<name>-<hash8>`."""
    from cygno_mw.analyzers.online.sinks import OnlineSinks
    from cygno_mw.analyzers.output_params import OutputParams
    from cygno_mw.analyzers.parameters import AnalyzerParameters

    output = OutputParams(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                          output_dir=str(tmp_path))
    first = AnalyzerParameters.defaults()
    changed = first.updated("Reco", {"nsigma": 0.9})
    sinks = OnlineSinks(output)
    try:
        assert sinks.use_pass("online", first, "numpy") == "online"
        derived = sinks.use_pass("online", changed, "numpy")
        assert derived.startswith("online-") and len(derived) == len("online-") + 8
        assert sinks.use_pass("online", changed, "numpy") == derived  # stable
        assert sinks.pass_name == derived
        assert sinks.use_pass("online", first, "cupy") == "online"  # backend is not a change
    finally:
        sinks.close()
    with Database(output.database_url) as db:
        assert set(db.passes()["pass_name"]) == {"online", derived}


def test_concurrent_registration_of_one_new_pass(sql_url: str) -> None:
    """Processes starting one new pass at once: every one gets it, one row is stored."""
    import threading

    record = {"parameters": "{}", "parameters_hash": "same"}
    with SqlSink(sql_url) as sink:
        _ = sink.engine  # the schema first (its creation has its own concurrency test)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            with SqlSink(sql_url, pass_name="together") as sink:
                _ = sink.engine
                barrier.wait()
                sink.register_pass(record)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with Database(sql_url) as db:
        assert db.passes()["pass_name"].tolist() == ["together"]
