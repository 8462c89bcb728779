"""Replay with InfluxDB points for Grafana (victoria-metrics answers the v2 write API).

Skipped when victoria-metrics is not installed (CI installs it with .ci/services).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cygno_mw.cli import main
from cygno_mw.simulation.odb import default_start_time
from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

pytestmark = pytest.mark.influx


def test_points_for_images_slow_control_and_pedestals(influx_server, tmp_path: Path) -> None:
    pedestal = simulate_run(tmp_path / "run00040.mid.lz4", 40, 3, pedestal=True)
    physics = simulate_run(tmp_path / "run00041.mid.lz4", 41, 2, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0))
    assert main(["replay", "-q", "-o", str(tmp_path / "out"), "--set",
                 f"output.influx_url={influx_server.url}", str(pedestal.path),
                 str(physics.path)]) == 0
    reco = exported(influx_server, '{__name__="cygno_reco_nclusters", run="41"}',
                    lambda found: len(found) == 1 and len(found[0]["values"]) == 2)
    assert len(reco) == 1 and len(reco[0]["values"]) == 2
    hv = exported(influx_server, '{__name__="cygno_slow_control_VGEM1", equipment="HV"}',
                  lambda found: {"40", "41"} <= {series["metric"]["run"] for series in found})
    assert {"40", "41"} <= {series["metric"]["run"] for series in hv}
    quality = exported(influx_server, '{__name__="cygno_image_quality_noise_mean", run="40"}')
    assert len(quality) == 1
    assert quality[0]["timestamps"] == [default_start_time(40) * 1000]  # the pedestal run's start


def exported(server, selector: str, ready: Callable[[list[dict]], bool] = bool,
             attempts: int = 100) -> list[dict]:
    """The series once `ready` holds for them: the server shows fresh samples lazily, and
    the server is shared by the whole session, so other tests' series may be there too."""
    found: list[dict] = []
    for _ in range(attempts):
        found = server.export(selector)
        if ready(found):
            return found
        time.sleep(0.1)
    return found
