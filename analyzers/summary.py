"""What one processed run amounts to, and the few lines that tell the user."""

from __future__ import annotations

from dataclasses import dataclass, field

from cygno_mw.analyzers.written_outputs import WrittenOutputs


@dataclass
class RunSummary:
    run: int
    source: str = ""
    pedestal_run: bool = False
    events: int = 0  # every event read (camera, slow control, other)
    triggers: int = 0  # events with at least one camera image
    images: int = 0  # camera images seen
    reconstructed: int = 0  # images through the reconstruction (sparks included)
    sparks: int = 0  # images the reconstruction skipped as sparks
    skipped: int = 0  # images that did not fit their pedestal map
    pmt_skipped: int = 0  # events whose PMT banks were malformed (their images go on)
    clusters: int = 0
    slow_control_events: int = 0
    foreign_events: int = 0  # events of another run, not processed
    wall_s: float = 0.0
    reco_s: float = 0.0  # reconstruction time summed over images
    backend: str = ""
    device: str = ""
    reco_status: str = "none"
    partial: bool = False
    problem: str | None = None
    pedestals: dict[int, str] = field(default_factory=dict)  # camera -> where the map came from
    outputs: WrittenOutputs | None = None

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s if self.wall_s > 0 else 0.0

    def lines(self) -> list[str]:
        """The end-of-run summary."""
        kind = "pedestal run" if self.pedestal_run else "run"
        head = (f"{kind} {self.run}: {self.events} events, {self.images} images"
                f"{'' if self.pedestal_run else f', {self.clusters} clusters'}, "
                f"{self.images_per_s:.2f} images/s, backend {self.backend or '-'}"
                f"{f' ({self.device})' if self.device else ''}; reco status {self.reco_status}")
        out = [head]
        if self.source:
            out.append(f"  file: {self.source}")
        notes = []
        if self.skipped:
            notes.append(f"{self.skipped} images skipped (size does not match the pedestal map)")
        if self.pmt_skipped:
            notes.append(f"{self.pmt_skipped} events' PMT banks skipped (malformed)")
        if self.sparks:
            notes.append(f"{self.sparks} images skipped as sparks")
        if self.slow_control_events:
            notes.append(f"{self.slow_control_events} slow-control events")
        if self.foreign_events:
            notes.append(f"{self.foreign_events} events of other runs ignored")
        if notes:
            out.append("  " + "; ".join(notes))
        for camera, origin in sorted(self.pedestals.items()):
            verb = "stored" if self.pedestal_run else "pedestal"
            out.append(f"  camera {camera} {verb}: {origin}")
        if self.problem:
            out.append(f"  PARTIAL: {self.problem}")
        if self.outputs is not None:
            pass_name = getattr(self.outputs, "pass_name", None)
            where = f" (pass {pass_name})" if pass_name else ""
            out.append(f"  results: {self.outputs.database}{where}")
            if self.outputs.reco_file:
                out.append(f"  reco file: {self.outputs.reco_file}")
            if self.outputs.influx:
                points = getattr(self.outputs, "influx_points", None)
                out.append(f"  InfluxDB: {self.outputs.influx}"
                           f"{f' ({points})' if points else ''}")
        return out
