"""No secret is stored or printed (issue 27, items 11, 12, 13, 16).

A replay with a database password in `$CYGNO_DB_URL` (in the userinfo, then as
`?password=`), AWS keys and an InfluxDB token in the environment, inputs and outputs on S3,
Parquet and ROOT reco files, at `-vv`; then `sql passes` in every format and refused
settings that carry a password.  Every output is searched for the test's secrets: every
row of every SQL table, every file under the output folder, every object on S3, and
everything the commands printed.  None may be there, nor a request signature.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cygno_mw.simulation.run import simulate_run
from cygno_mw.simulation.signals import SignalMix

pytestmark = [pytest.mark.mariadb, pytest.mark.s3, pytest.mark.influx]

DB_PASSWORD = "Db-Pw_5ecret-27"
AWS_KEY_ID = "AKIACYGNOSECRETID27"
AWS_SECRET = "aws-Secret-Key-27/xyz"
INFLUX_TOKEN = "influx-Token-27-secret"
URL_PASSWORD = "url-Pw-27-secret"  # only ever offered in settings that must be refused
SECRETS = (DB_PASSWORD, AWS_KEY_ID, AWS_SECRET, INFLUX_TOKEN, URL_PASSWORD)
SIGNATURE = re.compile(rb"Signature[=:\s'\"]*(?:b')?[0-9a-f]{64}")


def cygno_mw(env: dict[str, str], *args: str, status: int | None = 0) -> str:
    """`cygno-mw ARGS` in a process of its own (its own logging, as a user runs it); its
    stdout and stderr together."""
    done = subprocess.run([sys.executable, "-m", "cygno_mw", *args], env=env,
                          capture_output=True, text=True, timeout=600)
    printed = done.stdout + done.stderr
    if status is not None:
        assert done.returncode == status, printed[-3000:]
    return printed


def found_secrets(data: bytes) -> list[str]:
    found = [s for s in SECRETS if s.encode() in data]
    if SIGNATURE.search(data):
        found.append("a request signature")
    return found


@pytest.fixture
def setting(mariadb_server, s3_server, influx_server, tmp_path: Path) -> dict:
    import boto3

    database = mariadb_server.create_database("secrets")
    mariadb_server.sql(f"CREATE USER IF NOT EXISTS 'shift'@'%' IDENTIFIED BY '{DB_PASSWORD}'")
    mariadb_server.sql(f"GRANT ALL ON `{database}`.* TO 'shift'@'%'")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CYGNO_")) or k == "CYGNO_SHARED"}
    env.update(AWS_ACCESS_KEY_ID=AWS_KEY_ID, AWS_SECRET_ACCESS_KEY=AWS_SECRET,
               AWS_DEFAULT_REGION="us-east-1", CYGNO_INFLUX_TOKEN=INFLUX_TOKEN,
               CYGNO_DB_URL=mariadb_server.url(database, "shift", DB_PASSWORD))
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                      aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET)
    for bucket in ("secret-raw", "secret-results"):
        s3.create_bucket(Bucket=bucket)
    pedestal = simulate_run(tmp_path / "run00070.mid.lz4", 70, 2, pedestal=True,
                            with_pmt=False)
    physics = simulate_run(tmp_path / "run00071.mid.lz4", 71, 2, with_pmt=False,
                           mix=SignalMix(fe55=2, muon=0, nr=0, er=0))
    for run in (pedestal, physics):
        s3.upload_file(str(run.path), "secret-raw", run.path.name)
    return {"env": env, "s3": s3, "database": database, "server": mariadb_server,
            "urls": [f"s3://secret-raw/{run.path.name}" for run in (pedestal, physics)],
            "settings": ["--set", "output.s3_bucket=secret-results",
                         "--set", f"output.s3_endpoint_url={s3_server.endpoint_url}",
                         "--set", f"output.influx_url={influx_server.url}"]}


def test_no_secret_is_stored_or_printed(setting: dict, tmp_path: Path) -> None:
    env, out = setting["env"], tmp_path / "out"
    replay = ["replay", "-vv", "-o", str(out), *setting["settings"]]
    printed = [cygno_mw(env, *replay, *setting["urls"])]
    printed.append(cygno_mw(env, *replay, "--pass", "root-files", "--set",
                            "output.reco_file_format=root", setting["urls"][1]))
    # the password as a query parameter of the URL in the environment: used, never shown
    server, database = setting["server"], setting["database"]
    query_env = {**env, "CYGNO_DB_URL": server.url(database, "shift") +
                 f"?password={DB_PASSWORD}"}
    printed.append(cygno_mw(query_env, *replay, "--pass", "query-url", setting["urls"][1]))
    for fmt in ("table", "csv", "json"):
        printed.append(cygno_mw(env, "sql", "passes", "-vv", "--format", fmt))
        printed.append(cygno_mw(query_env, "sql", "runs", "-vv", "--format", fmt))
    reco_files = sorted((out / "reco").glob("*"))
    assert {p.suffix for p in reco_files} == {".parquet", ".root"}
    for path in reco_files:  # ROOT compresses its TObjString: read back, not grepped
        printed.append(cygno_mw(env, "sql", "passes", "--file", str(path), "--format", "json"))

    # settings that hold a password are refused, and the password is not repeated
    refused = [
        ("output.database_url", server.url(database, "shift") + f"?password={URL_PASSWORD}"),
        ("output.database_url", server.url(database, "shift") + f"?passwd={URL_PASSWORD}"),
        ("output.influx_url", f"http://cygno:{URL_PASSWORD}@127.0.0.1:8086"),
        ("output.influx_url", f"http://127.0.0.1:8086/?token={URL_PASSWORD}"),
        ("output.s3_endpoint_url", f"http://key:{URL_PASSWORD}@127.0.0.1:9000"),
    ]
    for key, value in refused:
        answer = cygno_mw(env, *replay, "--set", f"{key}={value}", setting["urls"][1],
                          status=2)
        assert "must not contain a password" in answer, answer
        printed.append(answer)

    leaks = []
    for number, text in enumerate(printed):
        leaks += [f"output {number}: {s}" for s in found_secrets(text.encode())]
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        leaks += [f"{path.relative_to(out)}: {s}" for s in found_secrets(path.read_bytes())]
    s3 = setting["s3"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="secret-results")["Contents"]]
    assert any(key.endswith(".parquet") for key in keys)
    for key in keys:
        body = s3.get_object(Bucket="secret-results", Key=key)["Body"].read()
        leaks += [f"s3 {key}: {s}" for s in found_secrets(body)]
    tables = server.sql(f"SHOW TABLES FROM `{database}`").split()
    assert "passes" in tables and "runs" in tables
    for table in tables:
        rows = server.sql(f"SELECT * FROM `{database}`.`{table}`")
        leaks += [f"SQL {table}: {s}" for s in found_secrets(rows.encode())]
    assert not leaks, "\n".join(leaks)
