"""Errors meant for the user: the CLI prints their message, never a traceback."""

from __future__ import annotations


class CygnoError(Exception):
    """Base of every error whose message is written for the person running the program."""

    exit_code = 1


class UsageError(CygnoError):
    """A bad argument, option or parameter value."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value (ODB, config file, --set) that fails validation."""
