"""Bounds that hold: `--db-wait` is a real bound whatever one try takes (issue 27.9), and a
pedestal map that could not be written leaves no `.part.npz` behind (issue 27.10)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import exc

from cygno_mw.analyzers.outputs import database
from cygno_mw.analyzers.outputs.database import RetryPolicy, create_db_engine, run_with_retry
from cygno_mw.analyzers.outputs.errors import DatabaseUnavailableError


class FakeTime:
    """A clock that each try advances by `per_try` seconds (a connection that hangs)."""

    def __init__(self, per_try: float) -> None:
        self.now = 0.0
        self.per_try = per_try
        self.tries = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def work(self, _conn: object) -> None:
        self.tries += 1
        self.now += self.per_try
        raise exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("server gone"))


@pytest.mark.parametrize("per_try, tries", [(30.0, 1), (0.0, 6), (3.0, 3)])
def test_db_wait_bounds_the_whole_wait(tmp_path: Path, per_try: float, tries: int) -> None:
    """--db-wait 10: no retry starts once 10 s have passed, counting the time each try took
    (a server that hangs 30 s per connection is tried once, not six times); the last try
    may end past it by its own length (bounded by the wait too: see attempt_timeout_s)."""
    fake = FakeTime(per_try)
    policy = RetryPolicy.for_wait(10)
    policy = RetryPolicy(attempts=policy.attempts, deadline_s=policy.deadline_s,
                         clock=fake.clock, sleep=fake.sleep)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with pytest.raises(DatabaseUnavailableError, match="unreachable"):
            run_with_retry(engine, fake.work, policy, "test")
    finally:
        engine.dispose()
    assert fake.tries == tries
    assert fake.now <= 10.0 + per_try


def test_one_try_never_blocks_longer_than_the_wait(tmp_path: Path) -> None:
    """An SQLite lock (or a hanging MariaDB connection) waits at most --db-wait per try."""
    assert RetryPolicy.for_wait(5).attempt_timeout_s == 5.0
    assert RetryPolicy.for_wait(600).attempt_timeout_s == database.ATTEMPT_TIMEOUT_S
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", timeout_s=2.0)
    try:
        with engine.connect() as conn:
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        engine.dispose()
    assert timeout == 2000


def test_pedestal_map_that_fills_the_disk_leaves_no_part_file(tmp_path: Path) -> None:
    """A map write that fails (file size limit: as a full disk) removes its .part.npz."""
    script = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        from cygno_mw.analyzers.pedestal_store import PedestalStore
        from cygno_mw.gpu.pedestals import PedestalMaps
        maps = PedestalMaps(np.zeros((256, 256), np.float32), np.ones((256, 256), np.float32), 3)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            PedestalStore({str(tmp_path)!r}).save(5, 0, maps)
        except OSError as exc:
            print("failed:", exc.errno)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert "failed:" in done.stdout, done.stderr
    assert list((tmp_path / "pedestals").iterdir()) == []
