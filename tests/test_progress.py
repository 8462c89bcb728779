"""The progress display of replay and simulate: a total and an ETA, also off a terminal."""

from __future__ import annotations

import io

import pytest

from cygno_mw.midasfile.reader import open_midas
from cygno_mw.progress import FileProgress, Progress
from cygno_mw.simulation.run import simulate_run


class Log(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_known_total_prints_a_line_every_tenth_with_an_eta() -> None:
    log = Log()
    progress = Progress("simulating run 3", 20, "events", stream=log)
    for _ in range(20):
        progress.update()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("simulating run 3: 1/20 events")
    assert "ETA" in lines[1] and lines[-1].startswith("simulating run 3: 19/20 events")


# LZ4 frames come in blocks of up to 4 MB: only full-size images show the file's progress
@pytest.mark.parametrize(("suffix", "side", "images"), [
    (".mid", 256, 12), (".mid.gz", 256, 12), (".mid.lz4", 2304, 6)])
def test_file_progress_estimates_the_images_of_a_run_file(tmp_path, suffix, side,
                                                          images) -> None:
    run = simulate_run(tmp_path / f"run00004{suffix}", 4, images, shape=(side, side),
                       with_pmt=False, with_slow_control=False)
    estimates = []
    with open_midas(run.path) as midas:
        progress = FileProgress("run 4", run.path.stat().st_size, midas.bytes_read, stream=Log())
        for event in midas.events():
            if "CAM0" in event.banks:
                progress.update()
                estimates.append(progress.total)
    assert progress.done == images
    assert all(abs(total - images) <= 2 for total in estimates[1:]), estimates
    assert estimates[-1] == images
