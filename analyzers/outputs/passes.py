"""Processing passes on the SQL side: registering a pass, refusing a conflicting one, and
choosing which pass a query reads by default.

A pass is a name for one set of results: every `reco` and `macro` row carries it, `passes`
says what made it (version, parameters, vignetting map, who, where, when, status) and
`pass_runs` which runs it covers and how each ended. Re-processing under the same name with
the same parameters replaces that pass's rows of the run; the same name with different
parameters is refused (`PassConflictError`); another name coexists with the others.

Default pass of a run (`default_passes`): its best finished pass (`pass_runs.status` done
before partial, then the latest `finished_at`), the same pass the Run row's `reco_status`
reports (`reco_pass`); a run no pass has finished yet reads its most recently started pass
(one still running, or one that was killed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cygno_mw.errors import UsageError

from . import schema

DEFAULT_REPLAY_PASS = "replay"
DEFAULT_ONLINE_PASS = "online"
FINISHED_RUN_STATUSES = ("done", "partial")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,63}$")


class PassConflictError(UsageError):
    """The pass exists with other parameters: results would mix (exit status 2)."""


def check_pass_name(name: str) -> str:
    """A pass name: 1-64 letters, digits and `_ . : + -`, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"pass name {name!r}: use 1-64 letters, digits and _ . : + - "
                         "(starting with a letter or digit)")
    return name


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def register(conn: Connection, record: Mapping[str, Any]) -> dict[str, Any]:
    """Start (or resume) the pass `record["pass_name"]`, in the caller's transaction.

    A new name is inserted as `unfinished`. An existing one must have the same
    `parameters_hash`, else `PassConflictError` says which parameters differ; this process
    becomes its latest starter, and its status stays as it was (an attempt that fails or
    is killed never degrades it). Returns the row."""
    table = schema.passes
    name = check_pass_name(str(record["pass_name"]))
    now = utc_now()
    row = _row(conn, name)
    if row is None:
        fresh = {**record, "pass_name": name, "status": "unfinished", "started_at": now,
                 "finished_at": None, "updated_at": now}
        # Two processes registering one new name at once: the second one's insert fails
        # (IntegrityError) and its caller runs `register` again, which then compares.
        conn.execute(sa.insert(table), [fresh])
        return fresh
    if row.get("parameters_hash") != record.get("parameters_hash"):
        raise PassConflictError(conflict_message(name, row, record))
    # a finished pass stays finished until a run of it fails (finish_pass says which)
    changes = {"updated_at": now,
               **{k: record[k] for k in ("started_by", "host", "revision", "version")
                  if record.get(k) is not None}}
    conn.execute(sa.update(table).where(table.c.pass_name == name).values(changes))
    return {**row, **changes}


def _row(conn: Connection, name: str) -> dict[str, Any] | None:
    table = schema.passes
    found = conn.execute(sa.select(table).where(table.c.pass_name == name)).mappings().first()
    return None if found is None else dict(found)


def conflict_message(name: str, existing: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    changed = parameter_differences(existing.get("parameters"), new.get("parameters"),
                                    hashed_only=True)
    if existing.get("vignette_sha256") != new.get("vignette_sha256"):
        changed.append(f"vignetting map {existing.get('vignette_sha256') or '?'} -> "
                       f"{new.get('vignette_sha256') or '?'}")
    what = "; ".join(changed) if changed else "its parameters were not recorded"
    return (f"pass {name!r} already exists with other parameters ({what}). Its results "
            "would mix with these: give this processing a new pass name (--pass NAME, or "
            "/Analyzer/Online/Pass name online), or use that pass's parameters")


# Reco parameters that never change results (how, not what): left out of the hash.
EXECUTION_ONLY = ("backend", "batch_size")


def parameter_differences(old: Any, new: Any, *, hashed_only: bool = False) -> list[str]:
    """`section.key: a -> b` for each parameter that differs (JSON text or mappings)."""
    old_values, new_values = _flat(old), _flat(new)
    out = []
    for key in sorted(set(old_values) | set(new_values)):
        if hashed_only and (not key.startswith("Reco.")
                            or key.split(".", 1)[1] in EXECUTION_ONLY):
            continue
        a, b = old_values.get(key, "(none)"), new_values.get(key, "(none)")
        if a != b:
            out.append(f"{key}: {a} -> {b}")
    return out


def _flat(parameters: Any) -> dict[str, Any]:
    """Parameters as {"section.key": value}; none recorded (NULL, NaN: a pass from before
    parameters were kept) or unreadable: {}."""
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except ValueError:
            return {}
    if not isinstance(parameters, Mapping):
        return {}
    flat = {}
    for section, values in dict(parameters).items():
        if isinstance(values, Mapping):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
        else:
            flat[str(section)] = values
    return flat


def default_passes(conn: Connection, runs: Iterable[int] | None) -> dict[int, str]:
    """The pass each run reads by default (see the module docstring)."""
    table = schema.pass_runs
    statement = sa.select(table.c.run, table.c.pass_name, table.c.status,
                          table.c.started_at, table.c.finished_at)
    if runs is not None:
        numbers = sorted({int(r) for r in runs})
        if not numbers:
            return {}
        statement = statement.where(table.c.run.in_(numbers))
    best: dict[int, tuple[Any, ...]] = {}
    for run, name, status, started, finished in conn.execute(statement):
        rank = _rank(name, status, started, finished)
        if run not in best or rank > best[run][0]:
            best[run] = (rank, name)
    return {run: entry[1] for run, entry in best.items()}


def _rank(name: str, status: str | None, started: Any, finished: Any) -> tuple[Any, ...]:
    """Finished before unfinished, done before partial, then the newest."""
    finished_ok = status in FINISHED_RUN_STATUSES
    floor = dt.datetime.min
    return (finished_ok, status == "done", (finished if finished_ok else started) or floor,
            name)


def best_finished(conn: Connection, run: int) -> dict[str, Any] | None:
    """The `pass_runs` row of the run's best finished pass (done before partial, then the
    newest), or None when no pass has finished it."""
    table = schema.pass_runs
    rows = conn.execute(sa.select(table).where(
        table.c.run == sa.bindparam("the_run", int(run)),
        table.c.status.in_(FINISHED_RUN_STATUSES))).mappings().all()
    if not rows:
        return None
    return dict(max(rows, key=lambda r: _rank(r["pass_name"], r["status"], r["started_at"],
                                              r["finished_at"])))


def pass_condition(table: sa.Table, chosen: Mapping[int, str]) -> Any:
    """`(pass_name = p AND run IN (...)) OR ...`, runs grouped by pass (bound parameters)."""
    by_pass: dict[str, list[int]] = {}
    for run, name in chosen.items():
        by_pass.setdefault(name, []).append(int(run))
    if not by_pass:
        return sa.false()
    return sa.or_(*(sa.and_(table.c.pass_name == name, table.c.run.in_(sorted(numbers)))
                    for name, numbers in sorted(by_pass.items())))
