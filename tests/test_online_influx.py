"""A full online run with InfluxDB points for Grafana (victoria-metrics answers the v2 write
API): one point per reconstructed image, the pedestal run's image-quality point.

Skipped when victoria-metrics is not installed (CI installs it with .ci/services)."""

from __future__ import annotations

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import test_online_analyzer as scenario  # noqa: E402
from test_online_analyzer import make_analyzer, parameters, settle  # noqa: E402
from test_online_faults import frames, reco_points, unique_run, wait_for  # noqa: E402

from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402

crew = scenario.crew  # the scenario's fixture

pytestmark = pytest.mark.influx


def test_full_run_writes_points_per_image_and_pedestal_quality(crew, tmp_path, influx_server):
    run = unique_run()  # the server is shared by the session: select by a run of our own
    params = parameters(tmp_path)
    params["Output"]["influx_url"] = influx_server.url
    crew.odb_set("/Analyzer/Parameters", params)
    crew.odb_set("/Runinfo/Run number", run - 2)
    fe = CameraFrontend(0)
    analyzer = make_analyzer()
    crew.odb_set("/Configurations/Pedestal", True)
    crew.start_run()
    standin.run_frontend(fe, 3)
    crew.stop_run()
    settle(analyzer)
    crew.odb_set("/Configurations/Pedestal", False)
    crew.start_run()
    standin.run_frontend(fe, 5)
    crew.stop_run()
    settle(analyzer)
    n = frames(crew)
    assert reco_points(influx_server, run, lambda found: found >= n) == n

    quality = f'{{__name__="cygno_image_quality_noise_mean", run="{run - 1}", camera="0"}}'
    found: list[dict] = []

    def exported() -> bool:
        found[:] = influx_server.export(quality)
        return bool(found)

    wait_for(exported, "the pedestal run's image-quality point", 30.0)
    assert len(found) == 1 and len(found[0]["values"]) == 1 and found[0]["values"][0] > 0
    analyzer.close()
    assert crew.odb_get("/Analyzer/Reco/Statistics")["Output dropped"] == 0
