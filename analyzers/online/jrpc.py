"""The analyzer's answers to the MIDAS custom page (odb_templates/custom/cygno_online.html).

The page runs in the shift crew's browser and talks only to mhttpd; what only the analyzer
knows (the last runs from the SQL database, the cluster boxes of the picture it drew) it asks
through MIDAS's JSON-RPC callback (`register_jrpc_callback`): the page calls
`mjsonrpc_call("jrpc", {client_name, cmd, args, max_reply_length})`, mhttpd forwards it to this
client, and the answer is a JSON text.  Commands:

- `cygno_runs` (args: `{"limit": N}`): the newest runs of the database, newest first, with
  their reco status and event counts;
- `cygno_display`: per camera, the picture's URL on mhttpd, size, block, run/event and the
  cluster boxes (full-resolution pixels) with their light.

The pictures themselves are files served by mhttpd: `register_display_file` points a hidden
`/Custom/<name>!` key at each one (mhttpd serves a `/Custom` key's file at `/<name>`; a
trailing `!` keeps it out of the side menu, `&` would only open it in a new tab).
Errors come back as `{"error": text}`, so the page can show them; they never raise into
MIDAS's callback machinery.  The callback runs in the analyzer's MIDAS thread (inside
communicate(), where transitions are served too), so the SQL query runs in a thread of its
own and a request waits for it at most `RUNS_WAIT_S`: a slow or unreachable database then
gets the previous answer, marked `"stale": true`, and never holds up a run transition.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RUN_COLUMNS = ("run", "description", "start_time", "stop_time", "number_of_events",
               "reco_events", "reco_status", "reco_backend", "reco_pass", "skipped_events",
               "sampled")
MAX_RUNS = 100
RUNS_WAIT_S = 1.0  # the longest a page request holds the MIDAS thread waiting for SQL


def display_file_name(camera: int) -> str:
    """The URL path (under mhttpd's root) of a camera's live picture."""
    return f"cygno_display_cam{int(camera)}.png"


def register_display_file(client: Any, camera: int, path: str) -> None:
    """Let mhttpd serve the picture at `/cygno_display_cam<n>.png` (a hidden `/Custom` key)."""
    key = f"/Custom/{display_file_name(camera)}!"
    if not client.odb_exists(key) or client.odb_get(key) != path:
        client.odb_set(key, path)


class PageService:
    """The JSON-RPC callback: `service(client, cmd, args, max_len)` -> (status, JSON text)."""

    def __init__(self, database_url: Callable[[], str],
                 display_boxes: Callable[[], dict[int, dict[str, Any]]]) -> None:
        self.database_url = database_url
        self.display_boxes = display_boxes
        self._database: Any = None
        self._database_for = ""
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._runs_job: concurrent.futures.Future | None = None
        self._last_runs: list[dict[str, Any]] | None = None

    def __call__(self, client: Any, cmd: str, args: str, max_len: int) -> tuple[int, str]:
        import midas

        success = midas.status_codes["SUCCESS"]
        try:
            options = json.loads(args) if args and args.strip() else {}
            if cmd == "cygno_runs":
                answer: Any = self.recent_runs(int(options.get("limit", 10)))
            elif cmd == "cygno_display":
                answer = {"cameras": self.display()}
            else:
                return success, fit_error(f"unknown command {cmd!r}", max_len)
        except Exception as exc:  # the page shows it; the analyzer carries on
            log.warning("custom page request %s failed: %s", cmd, exc)
            return success, fit_error(f"{type(exc).__name__}: {exc}", max_len)
        return success, _fit(answer, max_len)

    def recent_runs(self, limit: int, wait_s: float = RUNS_WAIT_S) -> dict[str, Any]:
        """`{"runs": [...]}` from a query in the SQL thread, waited for at most `wait_s`;
        else the previous answer with `"stale": true` (TimeoutError when there is none)."""
        limit = max(1, min(int(limit), MAX_RUNS))  # (a negative slice would drop runs)
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="custom-page-sql")
            if self._runs_job is None or self._runs_job.done():
                self._runs_job = self._pool.submit(self.runs, limit)
            job = self._runs_job
        try:
            rows = job.result(timeout=wait_s)
        except concurrent.futures.TimeoutError:
            if self._last_runs is None:
                raise TimeoutError(f"the database did not answer within {wait_s:g} s") from None
            return {"runs": self._last_runs[:limit], "stale": True}
        self._last_runs = rows
        return {"runs": rows[:limit]}

    def runs(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` runs of the database (newest first)."""
        import sqlalchemy as sa

        from cygno_mw.analyzers.outputs import schema

        limit = max(1, min(int(limit), MAX_RUNS))
        table = schema.runs
        statement = (sa.select(*(table.c[c] for c in RUN_COLUMNS))
                     .order_by(table.c.run.desc()).limit(limit))
        with self._engine().connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return [{k: _plain(v) for k, v in row.items()} for row in rows]

    def display(self) -> dict[str, dict[str, Any]]:
        return {str(camera): {**facts, "url": display_file_name(camera)}
                for camera, facts in sorted(self.display_boxes().items())}

    def _engine(self) -> Any:
        """One engine per database URL (a changed Output parameter gets a new one)."""
        from cygno_mw.analyzers.outputs.query import Database

        url = self.database_url()
        if self._database is None or url != self._database_for:
            if self._database is not None:
                self._database.close()
            self._database, self._database_for = Database(url), url
        return self._database.engine

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._database is not None:
            self._database.close()
            self._database = None


def _plain(value: Any) -> Any:
    """A JSON-ready value (timestamps as ISO text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _fit(answer: dict[str, Any], max_len: int) -> str:
    """The answer as JSON within the caller's `max_len` (lists shortened; else an error)."""
    text = json.dumps(answer)
    runs = answer.get("runs")
    while len(text) >= max_len and isinstance(runs, list) and runs:
        runs.pop()
        text = json.dumps(answer)
    if len(text) >= max_len:
        return fit_error(f"answer of {len(text)} bytes exceeds max_reply_length {max_len}",
                         max_len)
    return text


def fit_error(message: str, max_len: int) -> str:
    """`{"error": message}` as JSON shorter than `max_len` (MIDAS's reply buffer holds
    max_len bytes with the final NUL): the message is cut, never the JSON."""
    text = json.dumps({"error": message})
    if len(text) < max_len:
        return text
    low, high = 0, len(message)
    while low < high:  # the longest prefix (+ "...") whose JSON fits
        middle = (low + high + 1) // 2
        if len(json.dumps({"error": message[:middle] + "..."})) < max_len:
            low = middle
        else:
            high = middle - 1
    text = json.dumps({"error": message[:low] + "..."})
    return text if len(text) < max_len else "{}"
