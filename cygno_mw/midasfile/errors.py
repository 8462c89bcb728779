"""Errors raised while reading or writing MIDAS data.

Every error that concerns a file carries `.path`, `.offset` and `.serial_number`
(each None where unknown) so callers such as the replay can mark a run partial
without parsing the message.
"""

from __future__ import annotations

from os import PathLike

from cygno_mw.errors import CygnoError


class MidasFormatError(CygnoError):
    """Bytes that do not follow the MIDAS event or file format."""

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        offset: int | None = None,
        serial_number: int | None = None,
        event_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.offset = offset
        self.serial_number = serial_number
        self.event_id = event_id


class MidasTruncatedError(MidasFormatError):
    """The data end inside an event: every complete event before `.offset` was readable."""


class MidasCorruptError(MidasFormatError):
    """An event whose inner sizes or flags contradict each other (e.g. a bank too long)."""


class NotMidasError(MidasFormatError):
    """The file does not start like a MIDAS file (no begin-of-run dump, no valid header)."""


class MidasEncodeError(CygnoError, ValueError):
    """Data that cannot be written as a MIDAS event (bad bank name, type or size)."""


class BankNotFoundError(CygnoError, KeyError):
    """An event has no bank of the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OdbKeyError(CygnoError, KeyError):
    """An ODB path that the dump does not contain."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MidasFileNotFoundError(CygnoError, FileNotFoundError):
    """The MIDAS file to read does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
