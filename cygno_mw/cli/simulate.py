"""`cygno-mw simulate`: write a simulated LIME run (MIDAS file + truth sidecar)."""

from __future__ import annotations

import argparse
from typing import Any

from cygno_mw.errors import CygnoError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=int, required=True, metavar="N", help="run number")
    parser.add_argument("--events", type=int, required=True, metavar="K",
                        help="number of triggers (camera images)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="MIDAS file to write: .mid, .mid.lz4 or .mid.gz")
    parser.add_argument("--pedestal", action="store_true",
                        help="a pedestal run: dark images, no signals")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of signals, noise and PMTs (default: the run number)")
    parser.add_argument("--camera-seed", type=int, default=None, metavar="S",
                        help="seed of the camera's pedestal/noise maps (default: fixed, so "
                             "all runs share one camera)")
    parser.add_argument("--mix", default=None, metavar="KIND=N,...",
                        help="mean signals per image, e.g. fe55=5,muon=1,nr=1,er=2,"
                             "close_pairs=1[,poisson=1] (unnamed kinds: 0; "
                             "default fe55=5,muon=1,nr=1,er=2)")
    parser.add_argument("--noise", type=float, default=2.5, metavar="ADU",
                        help="typical read noise per pixel (default 2.5 ADU)")
    parser.add_argument("--exposure", type=float, default=0.3, metavar="S",
                        help="camera exposure in seconds (default 0.3)")
    parser.add_argument("--vignetting", default=None, metavar="ROOT_FILE",
                        help="measured vignetting map (TH2F normmap_lime); default: built-in")
    parser.add_argument("--drs4-tables", default=None, metavar="DIR",
                        help="folder with table_cell_LNGS.npy / table_nsample_LNGS.npy; "
                             "default: built-in offsets")
    parser.add_argument("--start-time", default=None, metavar="TIME",
                        help="when the run starts: UNIX seconds or an ISO time (UTC unless "
                             "it says); default: run n starts n-1 hours after 2023-12-14 "
                             "22:33:17 UTC, so runs never share a time")
    parser.add_argument("--no-pmt", action="store_true", help="no DGH0/DIG0 banks")
    parser.add_argument("--no-slow-control", action="store_true",
                        help="no slow-control events")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from cygno_mw.simulation.sensor import DEFAULT_CAMERA_SEED
    from cygno_mw.simulation.signals import SignalMix

    if args.events < 0:
        raise UsageError(f"--events must be >= 0, got {args.events}")
    if args.pedestal and args.mix:
        raise UsageError("--mix makes no sense with --pedestal (pedestal images have no signal)")
    mix = SignalMix.parse(args.mix) if args.mix else None
    args.start_time = _start_time(args.start_time)

    show = not args.quiet and args.events > 0
    progress = None
    if show:
        from cygno_mw.progress import Progress

        progress = _Simulated(Progress(f"simulating run {args.run}", args.events, "events"))
    try:
        result = _simulate(args, mix, progress, DEFAULT_CAMERA_SEED)
    except OSError as exc:
        raise CygnoError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    finally:
        if progress is not None:
            progress.close()
    kind = "pedestal run" if result.pedestal else f"{result.n_signals} signals"
    print(f"wrote {result.path} (run {result.run_number}, {result.events} events, {kind}, "
          f"seed {result.seed}, {result.seconds:.1f} s)")
    print(f"truth: {result.truth_path}")
    return 0


def _start_time(text: str | None) -> float | None:
    """`--start-time` as UNIX seconds (a number, or an ISO time taken as UTC if naive)."""
    import datetime as dt

    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--start-time: {text!r} is neither UNIX seconds nor an ISO "
                             "time like 2024-05-01T12:00:00") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = when.timestamp()
    if not 0 < seconds < 1 << 32:
        raise UsageError(f"--start-time: {text!r} is outside MIDAS's 32-bit times "
                         "(1970 to 2106)")
    return seconds


def _simulate(args: argparse.Namespace, mix, progress, default_camera_seed: int):
    from cygno_mw.simulation.run import simulate_run

    return simulate_run(
        args.output, args.run, args.events,
        pedestal=args.pedestal,
        seed=args.seed,
        mix=mix,
        noise_level=args.noise,
        with_pmt=not args.no_pmt,
        with_slow_control=not args.no_slow_control,
        camera_seed=default_camera_seed if args.camera_seed is None else args.camera_seed,
        exposure=args.exposure,
        vignette_path=args.vignetting,
        drs4_tables_dir=args.drs4_tables,
        start_time=args.start_time,
        progress=progress,
    )


class _Simulated:
    """simulate_run's progress callback (done, total) driving the shared progress display."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress

    def __call__(self, done: int, total: int) -> None:
        self.progress.update(done - self.progress.done)

    def close(self) -> None:
        self.progress.close()
