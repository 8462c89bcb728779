"""Where pedestal maps live and how a run finds its own.

Maps are `.npz` files (`PedestalMaps.save`) under `<output_dir>/pedestals/`, named
`run<run:05d>_cam<n>.npz`, copied to S3 when an S3 bucket is configured; each has a row
in the `pedestals` table (summary statistics, `map_location`, `map_sha256`).

A physics run takes, per camera, the most recent pedestal run *before* it in that table
(`find`).  `--pedestal FILE` maps are computed once and remembered in
`<output_dir>/pedestals/file-cache.json`, keyed by the file's absolute path, size and
modification time (`cached_for_file` / `remember_file`).

`hot_pixels` counts pixels whose noise is above `HOT_PIXEL_FACTOR` times the median noise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.analyzers.file_digest import file_hexdigest
from cygno_mw.errors import CygnoError
from cygno_mw.gpu.pedestals import PedestalMaps

log = logging.getLogger(__name__)

HOT_PIXEL_FACTOR = 5.0
CACHE_INDEX = "file-cache.json"
STAT_COLUMNS = ("n_images", "pedestal_mean", "pedestal_rms", "noise_mean", "noise_median",
                "noise_rms", "hot_pixels")


class PedestalMissingError(CygnoError):
    """No pedestal map for a run: the message says how to provide one."""


@dataclass(frozen=True)
class PedestalChoice:
    """The map a run uses for one camera, and where it came from (for the summary)."""

    camera: int
    path: Path
    origin: str  # e.g. "pedestal run 1 (pedestals table)"
    pedestal_run: int | None = None
    stats: Mapping[str, Any] | None = None  # pedestal_statistics of the map, when known


def pedestal_statistics(maps: PedestalMaps) -> dict[str, Any]:
    """The `pedestals` table's summary columns of one map (all but map_sha256)."""
    mean = maps.mean.astype(np.float64, copy=False)
    sigma = maps.sigma.astype(np.float64, copy=False)
    median = float(np.median(sigma))
    return {
        "n_images": int(maps.n_images),
        "pedestal_mean": float(mean.mean()),
        "pedestal_rms": float(mean.std()),
        "noise_mean": float(sigma.mean()),
        "noise_median": median,
        "noise_rms": float(sigma.std()),
        "hot_pixels": int(np.count_nonzero(sigma > HOT_PIXEL_FACTOR * median)),
    }


class PedestalStore:
    """Pedestal maps of one output folder (and optionally one S3 store)."""

    def __init__(self, output_dir: str | Path, s3_store: Any | None = None) -> None:
        self.directory = Path(output_dir) / "pedestals"
        self.s3 = s3_store
        self._sha256: dict[tuple[str, int, int], str] = {}

    def map_path(self, run: int, camera: int) -> Path:
        return self.directory / f"run{int(run):05d}_cam{int(camera)}.npz"

    # -- writing ---------------------------------------------------------------------------
    def save(self, run: int, camera: int, maps: PedestalMaps) -> dict[str, Any]:
        """Write the map (and upload it); returns the `pedestals` row minus run/camera."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.map_path(run, camera)
        partial = path.with_name(path.stem + ".part.npz")
        try:
            os.replace(maps.save(partial), path)
        except BaseException:  # a full disk: no half map left to fill it (or be read)
            partial.unlink(missing_ok=True)
            raise
        sha = self._checked_sha256(path)
        location = str(path.resolve())
        if self.s3 is not None:
            stored = self.s3.upload(path, int(run), path.name, metadata={"camera": str(camera)})
            location = stored.url
        return {**pedestal_statistics(maps), "map_location": location, "map_sha256": sha}

    # -- finding ---------------------------------------------------------------------------
    def find(self, database: Any, run: int, camera: int) -> PedestalChoice | None:
        """The latest pedestal run before `run` for `camera` in the `pedestals` table of
        `database` (a `query.Database`), its map made local; None if there is none."""
        from cygno_mw.analyzers.outputs.errors import (
            DatabaseAuthError,
            DatabaseUnavailableError,
            OutputError,
        )

        try:
            rows = database.pedestals(camera=int(camera), where=f"run < {int(run)}")
        except (DatabaseUnavailableError, DatabaseAuthError):
            raise  # the real cause, not a false "no pedestal map"
        except OutputError as exc:
            log.info("no pedestal lookup possible: %s", exc)
            return None
        if rows.empty:
            return None
        row = rows.sort_values("run").iloc[-1]
        found_run = int(row["run"])
        path = self.localize(found_run, camera, str(row["map_location"]),
                             row.get("map_sha256"))
        stats = {name: row[name] for name in STAT_COLUMNS if name in row}
        return PedestalChoice(camera, path, f"pedestal run {found_run} (pedestals table)",
                              found_run, stats)

    def localize(self, run: int, camera: int, location: str, sha256: Any = None) -> Path:
        """A local path holding the map stored at `location` (downloaded from S3 if needed)."""
        candidates = [self.map_path(run, camera)]
        if not location.startswith("s3://"):
            candidates.insert(0, Path(location))
        for path in candidates:
            if path.is_file() and (not sha256 or self._checked_sha256(path) == sha256):
                return path
        if location.startswith("s3://") and self.s3 is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = location.rsplit("/", 1)[-1]
            return self.s3.download(int(run), name, self.map_path(run, camera))
        why = " (and no S3 store is configured)" if location.startswith("s3://") else ""
        raise PedestalMissingError(
            f"the pedestals table names {location} as the map of pedestal run {run}, camera "
            f"{camera}, but it is not there{why}; replay pedestal run {run} again to "
            f"recreate it, or give --pedestal FILE")

    def map_sha256(self, path: Path) -> str:
        """SHA-256 of a map file (its identity in a pass's provenance), cached."""
        return self._checked_sha256(Path(path))

    def _checked_sha256(self, path: Path) -> str:
        """SHA-256 of a map file, computed once per file version (size, mtime)."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._sha256:
            self._sha256[key] = file_hexdigest(path, "sha256")
        return self._sha256[key]

    # -- --pedestal FILE cache -------------------------------------------------------------
    @staticmethod
    def file_key(path: str | Path) -> str:
        """Identity of a pedestal file: absolute path, size and modification time."""
        resolved = Path(path).resolve()
        stat = resolved.stat()
        text = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def cached_for_file(self, path: str | Path) -> dict[int, PedestalChoice] | None:
        """Maps computed earlier from this very file (unchanged since), or None."""
        entry = self._index().get(self.file_key(path))
        if not isinstance(entry, Mapping):
            return None
        choices = {}
        for camera, name in dict(entry.get("cameras", {})).items():
            map_file = self.directory / str(name)
            if not map_file.is_file():
                return None
            origin = f"{Path(path).name} (pedestal run {entry.get('run')}, cached)"
            choices[int(camera)] = PedestalChoice(int(camera), map_file, origin,
                                                  entry.get("run"))
        return choices or None

    def remember_file(self, path: str | Path, run: int, cameras: Mapping[int, Path]) -> None:
        """Record that `path` gave these maps (names relative to the pedestals folder)."""
        index = self._index()
        index[self.file_key(path)] = {
            "source": str(Path(path).resolve()), "run": int(run),
            "cameras": {str(c): Path(p).name for c, p in cameras.items()},
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / CACHE_INDEX
        partial = target.with_name(target.name + ".part")
        partial.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(partial, target)

    def _index(self) -> dict[str, Any]:
        try:
            content = json.loads((self.directory / CACHE_INDEX).read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return content if isinstance(content, dict) else {}


def missing_pedestal_message(run: int, camera: int, database_text: str) -> str:
    """The one message for a physics run without a pedestal map."""
    return (
        f"run {run}, camera {camera}: no pedestal map. There is no pedestal run before run "
        f"{run} in the pedestals table of {database_text}. Provide one with "
        f"--pedestal PEDESTAL_RUN.mid[.lz4] (computed once, then cached), or replay a "
        f"pedestal run first (cygno-mw replay PEDESTAL_RUN.mid[.lz4]) into the same database."
    )
