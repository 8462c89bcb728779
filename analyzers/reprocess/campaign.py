"""A campaign: work items submitted to a Dask cluster, a progress bar, and a summary.

Pedestal runs are submitted first and waited for (the others look their maps up in the
pedestals table). Each task is one run (tasks.py); a worker that dies mid-task has its task
rerun elsewhere by Dask's scheduler, and since the replay replaces a run's rows of the pass
in one transaction at the run's end, the rerun leaves no duplicate. A task that fails is
reported with its reason and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .inputs import WorkItem
from .tasks import TaskOptions, close_sessions, process


@dataclass
class CampaignReport:
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    wall_s: float = 0.0

    @property
    def images(self) -> int:
        return sum(int(r["images"]) for r in self.results)

    @property
    def clusters(self) -> int:
        return sum(int(r["clusters"]) for r in self.results)

    @property
    def partial(self) -> list[int]:
        """Runs processed without all of their input (named in each result's problem)."""
        return [int(r["run"]) for r in self.results if r.get("status") == "partial"]

    def lines(self) -> list[str]:
        out = [f"{len(self.results)} runs processed ({len(self.partial)} partial), "
               f"{self.images} images, {self.clusters} clusters, {len(self.failures)} "
               f"failed, in {self.wall_s:.1f} s"]
        for result in self.results:
            note = f" ({result['problem']})" if result.get("problem") else ""
            out.append(f"  run {result['run']}: {result['status']}, {result['images']} images,"
                       f" {result['clusters']} clusters{note}")
            out.extend(f"    chunk skipped: {text}" for text in result.get("skipped_chunks", []))
        out.extend(f"  FAILED {label}: {reason}" for label, reason in self.failures)
        return out


def run_campaign(client: Any, items: Iterable[WorkItem], options: TaskOptions, *,
                 on_done: Callable[[dict[str, Any] | None], None] | None = None,
                 close: bool = True) -> CampaignReport:
    """Process `items` on the cluster `client` talks to; returns the report."""
    from distributed import as_completed

    started = time.perf_counter()
    report = CampaignReport()
    items = list(items)
    pedestals = [i for i in items if i.pedestal]
    others = [i for i in items if not i.pedestal]
    for group in (pedestals, others):
        if not group:
            continue
        futures = {client.submit(process, item, options, key=f"reprocess-{_key(item)}",
                                 pure=False, retries=0): item for item in group}
        for future in as_completed(futures):
            item = futures[future]
            try:
                result = future.result()
            except Exception as exc:
                report.failures.append((item.label, _reason(exc)))
                result = None
            else:
                report.results.append(result)
            if on_done is not None:
                on_done(result)
    if close:
        client.run(close_sessions)
    report.results.sort(key=lambda r: int(r["run"]))
    report.wall_s = time.perf_counter() - started
    return report


def _key(item: WorkItem) -> str:
    base = f"run{item.run:05d}" if item.run is not None else item.label
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in base) + f"-{time.time_ns()}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
