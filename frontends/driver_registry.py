"""What every frontend driver shares: the base class and the name -> driver registry.

A driver owns one device (or a stand-in for one); the equipment opens it once, starts it at
begin-of-run (drivers that acquire), stops it at end-of-run, closes it at exit, and hands it
changed Settings with configure() at any time.  Each driver module keeps one `DriverRegistry`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cygno_mw.errors import ConfigError

Factory = str | Callable[[Mapping[str, Any]], Any]


class Driver:
    """Base class of drivers; `settings` are the equipment's accepted Settings."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings: dict[str, Any] = dict(settings)

    def open(self) -> None:
        """Connect to the device (may take seconds)."""

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        """Use new Settings now (also while acquiring)."""
        self.settings = dict(settings)

    def start(self) -> None:
        """Begin acquiring."""

    def stop(self) -> None:
        """End acquisition."""

    def close(self) -> None:
        """Release the device."""


class DriverRegistry:
    """Drivers by name: "module:Class" (imported on first use) or a factory taking the
    Settings (tests register those)."""

    def __init__(self, kind: str, entries: Mapping[str, Factory]) -> None:
        self.kind = kind
        self.entries: dict[str, Factory] = dict(entries)

    def names(self) -> list[str]:
        return list(self.entries)

    def register(self, name: str, factory: Factory) -> None:
        """Add a driver (a "module:Class" string or a callable taking the Settings)."""
        self.entries[name] = factory

    def unregister(self, name: str) -> None:
        self.entries.pop(name, None)

    def make(self, settings: Mapping[str, Any]) -> Any:
        """A new, not yet opened driver for settings["Driver"]."""
        name = settings.get("Driver")
        entry = self.entries.get(str(name))
        if entry is None:
            raise ConfigError(f"unknown {self.kind} driver {name!r} "
                              f"(known: {', '.join(self.entries)})")
        if isinstance(entry, str):
            module_name, class_name = entry.split(":")
            return getattr(importlib.import_module(module_name), class_name)(settings)
        return entry(settings)
