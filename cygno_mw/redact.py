"""Secrets never reach a message: passwords in URLs are hidden in any text shown to people.

`redact` is applied to every error the `cygno-mw` command prints and to every log record
it formats, so a value that was refused because it holds a password (e.g. `--set
output.database_url=mysql://user:PW@host/db`) is shown as `mysql://user:***@host/db`.
Secrets registered with the outputs' credentials module are hidden too.
"""

from __future__ import annotations

import logging
import re
import sys

# scheme://user:password@  (the password ends at the last '@' before the host)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)[^\s/]*@")
_TOKEN_PARAMS = re.compile(r"(?i)(?P<head>[?&](?:password|passwd|pwd|token|secret)=)[^&\s]+")


def redact(text: str) -> str:
    """`text` with URL passwords, secret query parameters and known secrets as '***'."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    text = _TOKEN_PARAMS.sub(r"\g<head>***", text)
    credentials = sys.modules.get("cygno_mw.analyzers.outputs.credentials")
    if credentials is not None:
        text = credentials.scrub(text)
    return text


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output never holds a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
