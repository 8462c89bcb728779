"""Errors of the output sinks, written for the person running the program.

None of them may carry a password, token or secret key: messages are built from URLs with the
password hidden and from driver messages passed through `credentials.scrub`.
"""

from __future__ import annotations

from cygno_mw.errors import CygnoError, UsageError


class OutputError(CygnoError):
    """A result could not be stored or read back."""


class DatabaseUnavailableError(OutputError):
    """The SQL server could not be reached (after the bounded retries)."""


class DatabaseAuthError(OutputError):
    """The SQL server refused the credentials."""


class FilterError(UsageError):
    """A `where` filter string that is not in the small filter language."""


class InfluxError(OutputError):
    """InfluxDB configuration or write problem."""


class S3Error(OutputError):
    """Object-store configuration, credential or transfer problem."""


class S3UnavailableError(S3Error):
    """The object store could not be reached (after the bounded retries)."""


class ChecksumMismatchError(S3Error):
    """The object store holds different bytes from the ones sent."""
