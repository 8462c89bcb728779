"""The Grafana files parse, ask only for what the sink writes, and hold no secret.

(Their queries run on a real InfluxDB in test_grafana_dashboards.py.)"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest
import yaml

from cygno_mw.analyzers.outputs import influx_schema

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PROVISIONING = sorted((GRAFANA / "provisioning").rglob("*.yaml"))
INI = GRAFANA / "grafana-iam.ini"
# what a secret written into a file would look like
SECRET_KEYS = re.compile(r"(secret|password|client_id|api_key|^token)$", re.IGNORECASE)
# a credential pasted as a value: a long run of token characters
CREDENTIAL_LIKE = re.compile(r"[A-Za-z0-9_\-+=]{32,}")
ENV_REFERENCE = re.compile(r"^(Token )?(\$__env\{[A-Z0-9_]+\}|\$\{[A-Z0-9_]+\})$")


def queries(dashboard: dict) -> list[str]:
    found = [t["query"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found


def test_four_dashboards_with_run_and_camera_variables() -> None:
    titles = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        titles.add(dashboard["title"])
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert names[0] == "datasource" and "run" in names
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert titles == {"CYGNO online reconstruction", "CYGNO detector quality",
                      "CYGNO slow control", "CYGNO DAQ and cloud"}
    cameras = [path.stem for path in DASHBOARDS
               if "camera" in [v["name"] for v in json.loads(path.read_text())
                               ["templating"]["list"]]]
    assert cameras == ["detector-quality", "online-reconstruction"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_asks_only_for_what_the_sink_writes(path: Path) -> None:
    for query in queries(json.loads(path.read_text())):
        measurement = influx_schema.MEASUREMENTS[re.search(r'FROM "(\w+)"', query).group(1)]
        for field in re.findall(r'\w+\("(\w+)"\)', query):
            assert measurement.free_fields or field in measurement.fields, (path.name, field)
        for tag in re.findall(r'"(\w+)" =~|"(\w+)" =|KEY = "(\w+)"', query):
            assert "".join(tag) in measurement.tags, (path.name, tag)
        group = query.split("GROUP BY", 1)[1] if "GROUP BY" in query else ""
        for tag in re.findall(r'"(\w+)"', group):
            assert tag in measurement.tags, (path.name, tag)


@pytest.mark.parametrize("path", PROVISIONING, ids=[p.name for p in PROVISIONING])
def test_provisioning_parses_and_names_no_secret(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == 1
    for key, value in _leaves(document):
        if SECRET_KEYS.search(key) or str(value).startswith(("Token", "Bearer")):
            assert ENV_REFERENCE.match(str(value)), (path.name, key, value)
        assert not CREDENTIAL_LIKE.search(str(value)), (path.name, key)
    for source in document.get("datasources", []):
        assert source["type"] == "influxdb" and source["url"].startswith("${")


def test_iam_login_fragment_parses_and_takes_secrets_from_the_environment() -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(INI.read_text())
    oauth = ini["auth.generic_oauth"]
    assert oauth.getboolean("enabled") and oauth.getboolean("use_pkce")
    for key in ("client_id", "client_secret"):
        assert ENV_REFERENCE.match(oauth[key]), key
    for key, endpoint in (("auth_url", "/authorize"), ("token_url", "/token"),
                          ("api_url", "/userinfo")):
        assert oauth[key] == "$__env{CYGNO_IAM_URL}" + endpoint
    assert set(oauth["scopes"].split()) >= {"openid", "profile", "email"}
    assert "'Admin'" in oauth["role_attribute_path"]
    assert oauth["role_attribute_path"].endswith("'Viewer'")
    for section in ini.sections():
        for key, value in ini[section].items():
            if SECRET_KEYS.search(key):
                assert ENV_REFERENCE.match(value), (section, key)
            assert not CREDENTIAL_LIKE.search(value), (section, key)


def _leaves(node: object, key: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, str(k))]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v, key)]
    return [(key, node)]
