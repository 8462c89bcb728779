"""Secrets from the environment or files, never from the ODB, and never in messages.

A password, token or key is read from `NAME` or from the file named by `NAME_FILE` (the usual
container-secrets convention). `scrub` removes known secrets from any text before it reaches a
log or an exception; `safe_url` renders a database URL with its password hidden.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from cygno_mw.redact import SECRET_QUERY_NAMES, redact

from .errors import OutputError

DB_PASSWORD_ENV = "CYGNO_DB_PASSWORD"
DB_URL_ENV = "CYGNO_DB_URL"
INFLUX_TOKEN_ENV = "CYGNO_INFLUX_TOKEN"

_known_secrets: set[str] = set()
_lock = threading.Lock()


def remember_secret(secret: str | None) -> None:
    """Register a secret so that `scrub` hides it from every message from now on."""
    if secret and len(secret) >= 3:
        with _lock:
            _known_secrets.add(secret)


def scrub(text: str, *extra: str | None) -> str:
    """`text` with every registered secret (and `extra` ones) replaced by '***'."""
    with _lock:
        secrets = set(_known_secrets)
    secrets.update(s for s in extra if s)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def secret_from_env(name: str) -> str | None:
    """The value of env `name`, else the content of the file named by env `name_FILE`."""
    value = os.environ.get(name)
    if not value:
        path = os.environ.get(f"{name}_FILE")
        if path:
            try:
                value = Path(path).read_text().rstrip("\r\n")
            except OSError as exc:
                raise OutputError(f"cannot read {name}_FILE ({path}): {exc.strerror}") from None
    remember_secret(value)
    return value or None


def resolve_url(url: str | URL) -> URL:
    """The database URL with its password filled from env/file when the URL has none."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.password is None and not parsed.get_backend_name().startswith("sqlite"):
        password = secret_from_env(DB_PASSWORD_ENV)
        if password is not None:
            parsed = parsed.set(password=password)
    if parsed.password:
        remember_secret(str(parsed.password))
    for name, value in parsed.query.items():  # ?password=... (a driver's connect argument)
        if name.lower() in SECRET_QUERY_NAMES:
            for item in (value,) if isinstance(value, str) else value:
                remember_secret(item)
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL as text, its password (in the userinfo or the query) shown as '***'."""
    parsed = make_url(url) if isinstance(url, str) else url
    return redact(parsed.render_as_string(hide_password=True))
