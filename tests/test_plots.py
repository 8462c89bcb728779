"""`cygno-mw plot`: each picture is drawn from known data and checked for what it shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cygno_mw.analyzers.outputs import schema
from cygno_mw.analyzers.outputs.query import Database
from cygno_mw.analyzers.outputs.sql_writer import SqlSink
from cygno_mw.analyzers.plots.event_display import (
    BLOCK,
    block_sum,
    draw_event,
    read_image,
    tables_frame,
    zero_suppressed,
)
from cygno_mw.analyzers.plots.peak_fit import fit_peak
from cygno_mw.analyzers.plots.pedestal_maps import draw_pedestal
from cygno_mw.analyzers.plots.spectrum import draw_spectrum
from cygno_mw.analyzers.plots.trend import draw_trend
from cygno_mw.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PEAK, WIDTH = 5900.0, 640.0


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def is_pdf(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:5] == b"%PDF-"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replayed pedestal run 1 and physics run 2 (the demo, pictures off)."""
    out = tmp_path_factory.mktemp("plots") / "out"
    assert main(["demo", "-q", "--no-plots", "-o", str(out), "--events", "3",
                 "--pedestal-events", "3"]) == 0
    return out


def spectrum_values(rng: np.random.Generator) -> np.ndarray:
    """A 55Fe line on a falling background and a few tracks far above it."""
    return np.concatenate([rng.normal(PEAK, WIDTH, 3000), rng.exponential(6000, 1500),
                           rng.uniform(3e4, 2e5, 200)])


def test_fit_finds_the_simulated_peak() -> None:
    fit = fit_peak(spectrum_values(np.random.default_rng(3)), bins=60)
    assert abs(fit.mean - PEAK) < 3 * fit.mean_error
    assert abs(fit.sigma - WIDTH) < 3 * fit.sigma_error
    assert fit.resolution == pytest.approx(WIDTH / PEAK, rel=0.1)
    assert fit.mean_error < 30 and 0.5 < fit.chi2_ndf < 2.0


def test_spectrum_from_the_reco_table(tmp_path: Path) -> None:
    """Clusters with a known light spectrum go through SQL; the plot's fit finds the line."""
    rng = np.random.default_rng(5)
    url = f"sqlite:///{tmp_path / 'known.sqlite'}"
    values = spectrum_values(rng)
    with SqlSink(url) as sink:
        for run, chunk in zip((10, 11), np.array_split(values, 2), strict=True):
            sink.begin_run(run, 0)
            for event, part in enumerate(np.array_split(chunk, 40)):
                clusters = {name: np.full(len(part), 10.0) for name in schema.CLUSTER_VARIABLES}
                clusters["sc_integral"] = part
                image = {"cmos_integral": float(part.sum()), "cmos_mean": 0.0, "cmos_rms": 0.0,
                         "nclusters": len(part)}
                sink.write_event(run, event, 0, {"clusters": clusters, "image": image})
    png, pdf = tmp_path / "s.png", tmp_path / "s.pdf"
    with Database(url) as db:
        result = draw_spectrum(db, [10, 11], [png, pdf], bins=60)
    assert result.entries == len(values) and is_png(png) and is_pdf(pdf)
    assert abs(result.fit.mean - PEAK) < 3 * result.fit.mean_error
    assert abs(result.fit.sigma - WIDTH) < 3 * result.fit.sigma_error

    # the command line: a run range, numbers printed, the file where -o says
    assert main(["plot", "spectrum", "10-11", "--db", url, "--bins", "60",
                 "-o", str(tmp_path / "cli.png"), "--pdf"]) == 0
    assert is_png(tmp_path / "cli.png") and is_pdf(tmp_path / "cli.pdf")

    with Database(url) as db:
        trend = draw_trend(db, [10, 11], [tmp_path / "t.png"])
    assert list(trend.nclusters) == [len(p) for c in np.array_split(values, 2)
                                     for p in np.array_split(c, 40)]


def test_event_display_outlines_the_reconstructed_clusters(demo: Path, tmp_path: Path) -> None:
    """The boxes drawn are the stored clusters of that image, and reconstructing the image
    again from the run file with the same pedestal map finds the same clusters."""
    from cygno_mw.analyzers.parameters import load_parameters
    from cygno_mw.analyzers.reco_engine import vignette_for
    from cygno_mw.gpu.pedestals import PedestalMaps
    from cygno_mw.gpu.pipeline import Reconstructor

    run_file = demo / "runs" / "run00002.mid.lz4"
    png = tmp_path / "event.png"
    with Database(f"sqlite:///{demo / 'cygno.sqlite'}") as db:
        result = draw_event(db, demo, run_file, None, [png])
        stored = db.reco(2, event=result.event)
        busiest = int(db.macro(2)["nclusters"].max())
    assert is_png(png) and result.pedestal_run == 1
    assert len(result.boxes) == len(stored) == busiest > 0
    # drawn in the tables' coordinates: the boxes are the stored sc_x/sc_y ranges as they are
    drawn = sorted((b.xmin, b.xmax, b.ymin, b.ymax, b.integral) for b in result.boxes)
    assert drawn == sorted(zip(stored.sc_xmin, stored.sc_xmax, stored.sc_ymin,
                               stored.sc_ymax, stored.sc_integral, strict=True))
    assert result.pass_shown.name == "replay"

    _, image, odb = read_image(run_file, result.event, 0)
    reco = load_parameters(odb).reco
    maps = PedestalMaps.load(demo / "pedestals" / "run00001_cam0.npz")
    again = Reconstructor(reco, maps, vignette_for(reco.vignette_map, maps.shape)).process(image)
    c = again.clusters
    redone = sorted(zip(c["sc_xmin"], c["sc_xmax"], c["sc_ymin"], c["sc_ymax"],
                        c["sc_integral"], strict=True))
    assert np.allclose(np.array(drawn), np.array(redone), rtol=1e-6)

    # and the picture's light is where the table says: each cluster's box, read off the
    # drawn array at the table's sc_x/sc_y, holds light
    shown = tables_frame(block_sum(zero_suppressed(image, maps.mean, maps.sigma, reco)))
    for box in result.boxes:
        x0, x1 = int(box.xmin + 0.5) // BLOCK, int(box.xmax + 0.5) // BLOCK
        y0, y1 = int(box.ymin + 0.5) // BLOCK, int(box.ymax + 0.5) // BLOCK
        assert shown[y0:y1 + 1, x0:x1 + 1].sum() > 0


def test_tables_frame_puts_a_pixel_at_its_table_coordinates() -> None:
    """A lit pixel at image row 9, column 2 of a 16x16 frame: sc_x 9, sc_y 15 - 2 = 13."""
    frame = np.zeros((16, 16), np.float32)
    frame[9, 2] = 1.0
    shown = tables_frame(block_sum(frame))  # [y block, x block], origin at the bottom
    y_block, x_block = (int(v[0]) for v in np.nonzero(shown))
    assert x_block == 9 // BLOCK and y_block == 13 // BLOCK


def test_event_display_from_the_command_line(demo: Path, tmp_path: Path) -> None:
    png = tmp_path / "e.png"
    assert main(["plot", "event", str(demo / "runs" / "run00002.mid.lz4"), "--event", "1",
                 "--db", f"sqlite:///{demo / 'cygno.sqlite'}", "-o", str(png)]) == 0
    assert is_png(png)
    assert main(["plot", "event", str(demo / "runs" / "run00002.mid.lz4"), "--event", "999",
                 "--db", f"sqlite:///{demo / 'cygno.sqlite'}", "-o", str(png)]) == 1


def test_pedestal_maps_and_their_drift(demo: Path, tmp_path: Path) -> None:
    """A later pedestal run whose mean is 4 ADU higher and noise 20% lower everywhere."""
    from cygno_mw.gpu.pedestals import PedestalMaps

    url = f"sqlite:///{demo / 'cygno.sqlite'}"
    first = PedestalMaps.load(demo / "pedestals" / "run00001_cam0.npz")
    shifted = PedestalMaps(first.mean + 4.0, first.sigma * 0.8, 7)
    location = shifted.save(tmp_path / "run00005_cam0.npz")
    with SqlSink(url) as sink:
        sink.write_pedestal(5, 0, map_location=str(location), n_images=7)
    png = tmp_path / "p.png"
    with Database(url) as db:
        result = draw_pedestal(db, demo, 5, [png])
        alone = draw_pedestal(db, demo, 1, [tmp_path / "p1.png"])
    assert is_png(png) and result.previous_run == 1
    assert result.drift["mean_shift"] == pytest.approx(4.0, abs=1e-4)
    assert result.drift["mean_shift_rms"] < 1e-3
    assert result.drift["noise_shift"] == pytest.approx(-0.2 * float(first.sigma.mean()),
                                                        rel=1e-4)
    assert alone.previous_run is None and alone.drift is None
    assert alone.noise == pytest.approx(float(first.sigma.mean()), rel=1e-6)


def test_every_plot_names_its_pass(demo: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """After a second pass (nsigma 0.7, named `typo`), each plot draws the pass asked for and
    says which, with that pass's parameters; the CLI, the library and the picture agree."""
    import shutil

    from cygno_mw.analyzers.plots.figure import description_of
    from cygno_mw.analyzers.plots.spectrum import fit_spectrum

    out = tmp_path / "out"
    shutil.copytree(demo, out)
    run_file = out / "runs" / "run00002.mid.lz4"
    assert main(["replay", "-q", "-o", str(out), "--pass", "typo", "--set", "reco.nsigma=0.7",
                 str(run_file)]) == 0
    db_url = f"sqlite:///{out / 'cygno.sqlite'}"
    capsys.readouterr()
    for pass_name, nsigma in (("replay", "0.6"), ("typo", "0.7")):
        png = tmp_path / f"spectrum_{pass_name}.png"
        assert main(["plot", "spectrum", "2", "--db", db_url, "--pass", pass_name,
                     "-o", str(png)]) == 0
        printed = capsys.readouterr().out.splitlines()[0]
        assert f"pass {pass_name}: nsigma {nsigma}" in printed
        with Database(db_url) as db:
            assert fit_spectrum(db, [2], pass_=pass_name).summary() == printed
        assert description_of(png) == printed

        png = tmp_path / f"event_{pass_name}.png"
        assert main(["plot", "event", str(run_file), "--db", db_url, "--pass", pass_name,
                     "-o", str(png)]) == 0
        printed = capsys.readouterr().out
        assert f"pass {pass_name}: nsigma {nsigma}" in printed
        assert f"zero-suppressed at {nsigma} σ" in description_of(png)

        assert main(["plot", "trend", "2", "--db", db_url, "--pass", pass_name,
                     "-o", str(tmp_path / "t.png")]) == 0
        assert f"pass {pass_name}: nsigma {nsigma}" in capsys.readouterr().out
    # without --pass: the run's best finished pass (the newer `typo`), said on the output
    assert main(["plot", "spectrum", "2", "--db", db_url, "-o", str(tmp_path / "d.png")]) == 0
    assert "pass typo: nsigma 0.7" in capsys.readouterr().out
    assert main(["plot", "spectrum", "2", "--db", db_url, "--pass", "nosuch",
                 "-o", str(tmp_path / "n.png")]) == 1
    assert "no pass 'nosuch'" in capsys.readouterr().err
