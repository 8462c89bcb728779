"""The event display: one camera image from its run file, zero-suppressed, with the
clusters one pass stored for it outlined and labelled (integral, length).

The frame is what the reconstruction of that pass saw after step 2: raw minus the pedestal
map, pixels not above nsigma x noise set to 0, inside the acceptance window, with the
pass's own Reco parameters (its `passes` row; the run file's ODB for a pass that recorded
none).  It is drawn in the tables' coordinates, the axes named as the columns are: `sc_x`
is the image row, `sc_y` is (columns - 1) - the image column (the experiment's frame), so a
cluster at `sc_xmean` 1000, `sc_ymean` 1311 is found at x 1000, y 1311 on the picture.  The
boxes are the `reco` rows of that run, camera, event and pass (sc_xmin..sc_xmax,
sc_ymin..sc_ymax, as stored); they come back in `EventDisplayResult.boxes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

from . import figure
from .pass_label import PassShown, pass_shown

BLOCK = 4  # pixels per displayed pixel: 2304 -> 576, like the reconstruction's rebin


@dataclass(frozen=True)
class Box:
    """One outlined cluster, in the tables' coordinates: x = sc_x (sc_xmin..sc_xmax), y =
    sc_y (sc_ymin..sc_ymax), as stored."""

    cluster: int
    xmin: float
    xmax: float
    ymin: float
    ymax: float
    integral: float
    length: float


@dataclass
class EventDisplayResult:
    run: int
    camera: int
    event: int
    pedestal_run: int | None
    boxes: list[Box]
    paths: list[Path] = field(default_factory=list)
    pass_shown: PassShown | None = None


def run_of(run_file: str | Path) -> int:
    """The run number of a run file (from its begin-of-run ODB dump)."""
    from cygno_mw.midasfile.reader import open_midas

    with open_midas(run_file) as midas:
        if midas.run_number is None:
            raise CygnoError(f"{run_file}: no begin-of-run ODB dump, so no run number")
        return int(midas.run_number)


def read_image(run_file: str | Path, event: int, camera: int) -> tuple[int, np.ndarray, Any]:
    """(run, image, begin-of-run ODB) of event serial `event`, bank CAM<camera>."""
    from cygno_mw.midasfile.reader import open_midas

    bank = f"CAM{int(camera)}"
    with open_midas(run_file) as midas:
        run = midas.run_number
        odb = midas.bor_odb
        for found in midas.events(banks=[bank]):
            if found.serial_number == int(event) and bank in found.banks:
                return int(run or 0), np.array(found.banks[bank].data), odb
    raise CygnoError(f"{run_file}: no event with serial number {event} and a {bank} bank")


def zero_suppressed(image: np.ndarray, mean: np.ndarray, sigma: np.ndarray,
                    reco: Any) -> np.ndarray:
    """raw - pedestal where above nsigma x noise inside the acceptance window, else 0."""
    from cygno_mw.gpu.zero_suppression import threshold_map

    frame = image.reshape(mean.shape).astype(np.float32)
    frame[frame >= reco.cimax] = 0  # the reconstruction's saturation cut
    signal = frame - mean
    keep = signal > threshold_map(sigma, reco)
    return np.where(keep, signal, 0.0).astype(np.float32)


def block_sum(frame: np.ndarray, block: int = BLOCK) -> np.ndarray:
    rows, cols = frame.shape[0] // block, frame.shape[1] // block
    return frame[: rows * block, : cols * block].reshape(rows, block, cols, block).sum(axis=(1, 3))


def draw_event(db: Any, pedestal_dir: Path, run_file: str | Path, event: int | None,
               paths: Sequence[Path], *, camera: int = 0,
               pedestal_file: Path | None = None,
               pass_: str | None = None) -> EventDisplayResult:
    """Draw one image of `run_file` with the clusters of one pass (`pass_`, else the run's
    default pass); `event` None picks the image with the most clusters."""
    from cygno_mw.analyzers.parameters import load_parameters
    from cygno_mw.gpu.pedestals import PedestalMaps

    run = run_of(run_file)
    shown = pass_shown(db, [run], pass_)
    if event is None:
        event = busiest_event(db, run, camera, pass_=shown.name)
    run, image, odb = read_image(run_file, event, camera)
    params = load_parameters(odb)
    if shown.reco:  # the parameters that made these clusters, not the file's
        params = params.updated("Reco", dict(shown.reco))
    reco = params.reco
    pedestal_run = None
    if pedestal_file is None:
        from cygno_mw.analyzers.pedestal_store import PedestalStore, missing_pedestal_message

        choice = PedestalStore(pedestal_dir).find(db, run, camera)
        if choice is None:
            raise CygnoError(missing_pedestal_message(run, camera, str(db.url)))
        pedestal_file, pedestal_run = choice.path, choice.pedestal_run
    maps = PedestalMaps.load(pedestal_file)
    frame = zero_suppressed(image, maps.mean, maps.sigma, reco)
    clusters = db.reco(run, camera=camera, event=event, pass_=shown.name)
    boxes = [Box(int(r.cluster), float(r.sc_xmin), float(r.sc_xmax), float(r.sc_ymin),
                 float(r.sc_ymax), float(r.sc_integral), float(r.sc_length))
             for r in clusters.itertuples()]

    fig, axis = figure.new_figure(1, 1, size=(8.0, 8.4))
    shown_blocks = tables_frame(block_sum(frame))
    cols = frame.shape[1]
    vmin, vmax = display_range(shown_blocks)
    used_rows = shown_blocks.shape[1] * BLOCK
    used_cols = shown_blocks.shape[0] * BLOCK
    extent = (-0.5, used_rows - 0.5, cols - used_cols - 0.5, cols - 0.5)
    picture = axis.imshow(shown_blocks, cmap="magma", vmin=vmin, vmax=vmax, extent=extent,
                          origin="lower", interpolation="nearest")
    fig.colorbar(picture, ax=axis, fraction=0.046, pad=0.02,
                 label=f"light above pedestal per {BLOCK}x{BLOCK} pixels (ADU)")
    _outline(axis, boxes)
    last = float(cols - 1)  # the acceptance window (image columns xmin..xmax, rows ymin..ymax)
    x0, x1, y0, y1 = reco.ymin, reco.ymax, last - reco.xmax, last - reco.xmin
    axis.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], ls="--", lw=0.8, color="grey")
    pedestal_text = f"pedestal run {pedestal_run}" if pedestal_run else Path(pedestal_file).name
    title = (f"run {run}, event {event}, camera {camera}: {len(boxes)} clusters; "
             f"zero-suppressed at {reco.nsigma} σ; {pedestal_text}\n{shown.title()}")
    axis.set_title(title, fontsize=9.5)
    x_label = "sc_x (the reco table's x: image row)"
    y_label = f"sc_y (the reco table's y: {cols - 1} − image column)"
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    drawn = "; ".join(f"{b.cluster}: x {b.xmin:.0f}-{b.xmax:.0f} y {b.ymin:.0f}-{b.ymax:.0f} "
                      f"{b.integral:.0f} ADU" for b in sorted(boxes, key=lambda b: b.cluster))
    written = figure.save(fig, paths, description=f"{title} | axes: {x_label}, {y_label} | "
                                                  f"boxes: {drawn}")
    return EventDisplayResult(run, camera, int(event), pedestal_run, boxes, written, shown)


def tables_frame(blocks: np.ndarray) -> np.ndarray:
    """An image (rows, columns) as drawn in the tables' frame with origin='lower': x along
    the image rows, y = last column - column (array indexed [y, x])."""
    return blocks.T[::-1]


def display_range(shown: np.ndarray) -> tuple[float, float]:
    """Colour scale that hides the noise kept by the low zero-suppression threshold:
    from the 97th percentile of the lit blocks (noise) to their 99.9th (bright tracks)."""
    lit = shown[shown > 0]
    if lit.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(lit, [97, 99.9]))
    return low, max(high, low + 1.0)


def _outline(axis: Any, boxes: Sequence[Box]) -> None:
    from matplotlib.patches import Rectangle

    for box in boxes:
        margin = BLOCK
        axis.add_patch(Rectangle((box.xmin - margin, box.ymin - margin),
                                 box.xmax - box.xmin + 2 * margin,
                                 box.ymax - box.ymin + 2 * margin,
                                 fill=False, edgecolor="cyan", lw=0.9))
        axis.annotate(f"{box.integral:.0f} ADU\n{box.length:.0f} px",
                      (box.xmax + margin, box.ymin - margin), color="cyan", fontsize=6.5,
                      va="bottom", ha="left")


def busiest_event(db: Any, run: int, camera: int, *, pass_: str | None = None) -> int:
    """The event of `run` with the most clusters (the first such), for a telling picture."""
    frame = db.macro(run, camera=camera, columns=["event", "nclusters"], pass_=pass_)
    if frame.empty:
        raise CygnoError(f"run {run}, camera {camera} has no images in the macro table; "
                         "replay it first or give --event")
    return int(frame.sort_values(["nclusters", "event"], ascending=[False, True])
               .iloc[0]["event"])
