"""The live picture for the shift crew: a downsampled camera image with its clusters boxed.

Written every `interval_s` as an 8-bit grey PNG (no imaging library needed) under
`<output_dir>/online/display_cam<n>.png`; the analyzer registers each file under `/Custom`
(jrpc.py) so mhttpd serves it to the custom page, which asks for the cluster boxes through
JSON-RPC; `/Analyzer/Display` says which run/event it shows.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.gpu.cluster_variables import image_frame

MAX_SIDE = 256


def downsample(image: np.ndarray, shape: tuple[int, int], max_side: int = MAX_SIDE) -> tuple[
        np.ndarray, int]:
    """Block-mean image of at most `max_side` pixels a side, and the block size."""
    frame = np.asarray(image).reshape(shape).astype(np.float32)
    block = max(1, int(np.ceil(max(shape) / max_side)))
    rows, cols = shape[0] // block, shape[1] // block
    small = frame[: rows * block, : cols * block].reshape(rows, block, cols, block)
    return small.mean(axis=(1, 3)), block


def to_grey(small: np.ndarray) -> np.ndarray:
    """8-bit grey from the 1st..99th percentile range."""
    low, high = np.percentile(small, [1, 99])
    scaled = (small - low) / max(float(high - low), 1e-6)
    return (np.clip(scaled, 0.0, 1.0) * 200).astype(np.uint8)


def draw_boxes(grey: np.ndarray, clusters: dict[str, np.ndarray], block: int) -> int:
    """White rectangles around each cluster (sc_xmin..sc_ymax: the experiment's frame, X =
    row and Y = last column - column, full-resolution pixels)."""
    names = ("sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax")
    if not all(n in clusters for n in names):
        return 0
    rows, cols = grey.shape
    box = image_frame({n: np.asarray(clusters[n], dtype=np.float64) for n in names},
                      cols * block)
    drawn = 0
    corners = (box["col_min"], box["col_max"], box["row_min"], box["row_max"])
    for x0, x1, y0, y1 in zip(*corners, strict=True):
        c0, c1 = (int(np.clip(v / block, 0, cols - 1)) for v in (x0, x1))
        r0, r1 = (int(np.clip(v / block, 0, rows - 1)) for v in (y0, y1))
        grey[r0, c0:c1 + 1] = grey[r1, c0:c1 + 1] = 255
        grey[r0:r1 + 1, c0] = grey[r0:r1 + 1, c1] = 255
        drawn += 1
    return drawn


def cluster_boxes(clusters: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Each cluster's bounding box and light, as plain numbers for the custom page."""
    names = ("sc_xmin", "sc_xmax", "sc_ymin", "sc_ymax")
    if not all(n in clusters for n in names):
        return []
    columns = [np.asarray(clusters[n], dtype=float) for n in names]
    light = np.asarray(clusters.get("sc_integral", np.zeros(len(columns[0]))), dtype=float)
    return [{"xmin": x0, "xmax": x1, "ymin": y0, "ymax": y1, "integral": q}
            for x0, x1, y0, y1, q in zip(*(c.tolist() for c in columns), light.tolist(),
                                         strict=True)]


def png_bytes(grey: np.ndarray) -> bytes:
    """A minimal 8-bit greyscale PNG."""
    height, width = grey.shape
    raw = b"".join(b"\x00" + grey[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class LiveDisplay:
    """Keeps the latest image per camera; `write` renders those not yet written."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._latest: dict[int, tuple[Any, Any]] = {}
        self.written: dict[int, dict[str, Any]] = {}
        # per camera: the picture's size, block and cluster boxes (full-resolution pixels)
        self.boxes: dict[int, dict[str, Any]] = {}

    def offer(self, job: Any, result: Any) -> None:
        """Called from the processing thread with each reconstructed image."""
        self._latest[int(job.camera)] = (job, result)

    def write(self) -> dict[int, dict[str, Any]]:
        """Render the newest image of each camera; returns {camera: what was written}."""
        latest, self._latest = self._latest, {}
        for camera, (job, result) in latest.items():
            shape = _shape_of(job)
            if shape is None:
                continue
            small, block = downsample(job.image, shape)
            grey = to_grey(small)
            boxes = draw_boxes(grey, result.clusters, block)
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"display_cam{camera}.png"
            partial = path.with_suffix(".part")
            partial.write_bytes(png_bytes(grey))
            partial.replace(path)
            self.written[camera] = {"File": str(path.resolve()), "Run": int(job.run),
                                    "Event": int(job.serial), "Clusters": boxes}
            self.boxes[camera] = {"run": int(job.run), "event": int(job.serial),
                                  "width": int(grey.shape[1]), "height": int(grey.shape[0]),
                                  "block": int(block), "clusters": cluster_boxes(result.clusters)}
        return {c: self.written[c] for c in latest if c in self.written}


def _shape_of(job: Any) -> tuple[int, int] | None:
    image = np.asarray(job.image)
    if image.ndim == 2:
        return (int(image.shape[0]), int(image.shape[1]))
    try:
        from cygno_mw.gpu.pedestals import PedestalMaps

        return PedestalMaps.load(job.pedestal_path).shape
    except Exception:
        return None
