"""Where an analyzer's results go: the `/Analyzer/Parameters/Output` ODB subtree.

Only names of environment variables that hold secrets live here, never the secrets
themselves: the ODB is readable by every client of the experiment and is copied into
every run file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cygno_mw.errors import ConfigError
from cygno_mw.redact import has_secret

RECO_FILE_FORMATS = ("parquet", "root", "none")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OutputParams:
    """Output settings; empty URLs switch a sink off (the embedded default needs no server)."""

    database_url: str = "sqlite:///cygno-out/cygno.sqlite"
    output_dir: str = "cygno-out"
    reco_file_format: str = "parquet"
    influx_url: str = ""
    influx_org: str = "cygno"
    influx_bucket: str = "cygno"
    influx_token_env: str = "CYGNO_INFLUX_TOKEN"
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_prefix: str = "cygno"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OutputParams:
        """Validate ODB-style values (keys as in the ODB, case-insensitive)."""
        fields = {f.name.lower(): f.name for f in dataclasses.fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key.endswith("/key"):
                continue
            name = fields.get(key.lower().replace(" ", "_"))
            if name is None:
                raise ConfigError(f"Output: unknown parameter {key!r} (known: {sorted(fields)})")
            if not isinstance(value, str):
                raise ConfigError(f"Output/{name}: expected a string, got {value!r}")
            clean[name] = value.strip()
        params = dataclasses.replace(cls(), **clean)
        params.validate()
        return params

    def to_mapping(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.reco_file_format not in RECO_FILE_FORMATS:
            raise ConfigError(
                f"Output/reco_file_format: {self.reco_file_format!r} is not one of "
                f"{', '.join(RECO_FILE_FORMATS)}"
            )
        if not self.database_url:
            raise ConfigError("Output/database_url: must not be empty")
        if ":" in _userinfo(self.database_url) or has_secret(self.database_url):
            raise ConfigError(
                "Output/database_url: must not contain a password; put it in the environment "
                "variable CYGNO_DB_PASSWORD or a file named by CYGNO_DB_PASSWORD_FILE"
            )
        for name in ("influx_url", "s3_endpoint_url"):
            url = getattr(self, name)
            if ":" in _userinfo(url) or has_secret(url):
                raise ConfigError(
                    f"Output/{name}: must not contain a password or token; the InfluxDB "
                    "token comes from the variable named by influx_token_env, S3 keys "
                    "from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if not _ENV_NAME.match(self.influx_token_env):
            raise ConfigError(
                f"Output/influx_token_env: {self.influx_token_env!r} is not an environment "
                "variable name (the token itself must never be stored in the ODB)"
            )
        bucket_name = r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]"
        if self.s3_bucket and not re.fullmatch(bucket_name, self.s3_bucket):
            raise ConfigError(f"Output/s3_bucket: {self.s3_bucket!r} is not a valid bucket name")
        for name in ("influx_url", "s3_endpoint_url"):
            url = getattr(self, name)
            if url and not re.match(r"^https?://[^\s]+$", url):
                raise ConfigError(f"Output/{name}: {url!r} is not an http(s) URL")


def _userinfo(url: str) -> str:
    """The `user:password` part of a URL, or ''."""
    netloc = url.split("//", 1)[1].split("/", 1)[0] if "//" in url else ""
    return netloc.rsplit("@", 1)[0] if "@" in netloc else ""


def resolve_output(output: OutputParams, output_dir: Path | None) -> OutputParams:
    """The output settings with `-o` applied and the database URL made explicit."""
    from cygno_mw.analyzers.outputs.credentials import DB_URL_ENV
    from cygno_mw.home import HOME_ENV, home_dir

    if output_dir is None and output.output_dir == OutputParams().output_dir and (
            os.environ.get(HOME_ENV)):
        output_dir = home_dir()
    if output_dir is not None:
        output = dataclasses.replace(output, output_dir=str(output_dir))
    if output.database_url == OutputParams().database_url:
        url = os.environ.get(DB_URL_ENV) or (
            f"sqlite:///{Path(output.output_dir) / 'cygno.sqlite'}")
        output = dataclasses.replace(output, database_url=url)
    return output
