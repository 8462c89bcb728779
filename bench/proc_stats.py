"""CPU time and memory of a process and its children, from /proc (Linux), for the benches."""

from __future__ import annotations

import contextlib
import os


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    kids = [int(k) for k in handle.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private pages) of a process, MB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"RSS": values["Rss"], "PSS": values["Pss"],
            "USS": values["Private_Clean"] + values["Private_Dirty"]}


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int | None = None) -> float:
    """CPU seconds used so far by a process (default: this one) and its live descendants."""
    root = os.getpid() if pid is None else pid
    total = 0.0
    for member in [root, *descendants(root)]:
        with contextlib.suppress(OSError):
            total += cpu_s(member)
    return total
