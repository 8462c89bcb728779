"""Secrets never reach a message or a stored record: passwords, tokens and keys are hidden.

`redact` is applied to every error the `cygno-mw` command prints and to every log record
it formats, so a value that was refused because it holds a password (e.g. `--set
output.database_url=mysql://user:PW@host/db`) is shown as `mysql://user:***@host/db`.
It hides URL passwords, secret query parameters (`?password=`, `?token=`...), request
signatures (S3's `Signature=`, shown by botocore at `-vv`), the values of the environment
variables that hold credentials, and the secrets registered with the outputs' credentials
module.  `redact_parameters` does the same to every text of a parameter tree, the one place
where parameters become a stored record (`passes.parameters`, reco-file provenance).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

# scheme://user:password@  (the password ends at the last '@' before the host)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)[^\s/]*@")
SECRET_QUERY_NAMES = ("password", "passwd", "pwd", "token", "secret", "x-amz-credential",
                      "x-amz-security-token", "access_token", "api_key")
_TOKEN_PARAMS = re.compile(
    rf"(?i)(?P<head>[?&;](?:{'|'.join(re.escape(n) for n in SECRET_QUERY_NAMES)})=)[^&\s'\"]+")
_SIGNATURE = re.compile(r"(?i)(?P<head>signature[\"']?\s*[=:]\s*(?:b?[\"'])?)[0-9a-f]{40,}")
# credentials that boto3 and our outputs read from the environment
SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "CYGNO_DB_PASSWORD", "CYGNO_INFLUX_TOKEN")


def redact(text: str) -> str:
    """`text` with URL passwords, secret query parameters, signatures and known secrets
    as '***'."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    text = _TOKEN_PARAMS.sub(r"\g<head>***", text)
    text = _SIGNATURE.sub(r"\g<head>***", text)
    values = (os.environ.get(name) or "" for name in SECRET_ENV)
    for value in sorted((v for v in values if len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, "***")
    credentials = sys.modules.get("cygno_mw.analyzers.outputs.credentials")
    if credentials is not None:
        text = credentials.scrub(text)
    return text


def has_secret(text: str) -> bool:
    """Whether `text` holds a URL password or a secret query parameter."""
    return bool(_URL_PASSWORD.search(text) or _TOKEN_PARAMS.search(text))


def redact_parameters(value: Any) -> Any:
    """A copy of a parameter tree (dicts, lists, scalars) with every text `redact`ed."""
    if isinstance(value, dict):
        return {key: redact_parameters(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_parameters(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output never holds a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
