"""ODB templates: merge every odb_templates/*.json into a live ODB without overwriting values
someone already tuned, and show how the ODB differs from them.

Template files are MIDAS JSON dumps of ODB subtrees, from the root ({"Programs": {...}}).
A key's MIDAS type follows its JSON value (true/false BOOL, 3 INT, 3.0 DOUBLE, "x" STRING,
lists arrays of that) unless a "<key>/key" entry says otherwise, as MIDAS's own dumps do:
{"type": 6} for a DWORD, {"type": 12, "item_size": 256} for a 256-byte string.  String values
may hold `{cygno_mw}`, replaced by the absolute path of the `cygno-mw` command installed
beside the interpreter running the installer (or `{python} -m cygno_mw` without it), and
`{python}`, that interpreter, so /Programs start commands work from a virtual environment
and from mhttpd's own PATH; `{odb_templates}` is the absolute path of the template folder
itself, so `/Custom` keys name the custom page's files (odb_templates/custom/) wherever the
package is installed (mhttpd serves a `/Custom` key's absolute file; a key of ours that
names the same file in another place, an older installation, is updated by `install`). Start
commands name programs (`cygno-mw frontend camera`), never module paths; a start command
that still runs one of our old module paths (`python -m cygno_mw.frontends.camera_frontend
...`) is rewritten by `install`, keeping its flags; any other command someone wrote is left
alone.  All files are merged
into one tree; the same key with two different values in two files is an error.

Where the templates are found (first that exists): the `--templates` argument, the
CYGNO_ODB_TEMPLATES environment variable, the package data `cygno_mw/odb_templates` of an
installed wheel (setup.cfg maps the repository's odb_templates/ to the package
`cygno_mw.odb_templates`), the repository checkout's odb_templates/ next to cygno_mw/.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import os
import re
import shutil
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cygno_mw.errors import ConfigError

TEMPLATES_ENV = "CYGNO_ODB_TEMPLATES"


def cygno_mw_command() -> str:
    """The `cygno-mw` command of this installation, as an absolute path where possible."""
    beside = Path(sys.executable).parent / "cygno-mw"
    if beside.is_file():
        return str(beside)
    found = shutil.which("cygno-mw")
    return found if found else f"{sys.executable} -m cygno_mw"


PLACEHOLDERS = {"{cygno_mw}": cygno_mw_command(), "{python}": sys.executable}

# Start commands of our programs before they were named (module path -> program command).
LEGACY_MODULES = {
    "cygno_mw.frontends.camera_frontend": "frontend camera",
    "cygno_mw.frontends.pmt_frontend": "frontend pmt",
    "cygno_mw.frontends.slow_control_frontend": "frontend slow-control",
    "cygno_mw.analyzers.online_analyzer": "analyzer online",
}
_LEGACY_COMMAND = re.compile(r"^\s*\S+\s+-m\s+(" + "|".join(re.escape(m) for m in LEGACY_MODULES)
                             + r")(?=\s|$)")

# MIDAS TID values used in "/key" metadata
TID_BYTE, TID_SBYTE, TID_CHAR, TID_WORD, TID_SHORT = 1, 2, 3, 4, 5
TID_DWORD, TID_INT, TID_BOOL, TID_FLOAT, TID_DOUBLE = 6, 7, 8, 9, 10
TID_STRING, TID_KEY = 12, 15
_CTYPES = {
    TID_BYTE: ctypes.c_ubyte, TID_SBYTE: ctypes.c_byte, TID_CHAR: ctypes.c_ubyte,
    TID_WORD: ctypes.c_ushort, TID_SHORT: ctypes.c_short, TID_DWORD: ctypes.c_uint,
    TID_INT: ctypes.c_int, TID_FLOAT: ctypes.c_float, TID_DOUBLE: ctypes.c_double,
}


def templates_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder of ODB template files (see module docstring for the search order)."""
    candidates: list[Path] = []
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise ConfigError(f"ODB template folder {path} does not exist")
        return path
    if os.environ.get(TEMPLATES_ENV):
        candidates.append(Path(os.environ[TEMPLATES_ENV]))
    spec = importlib.util.find_spec("cygno_mw.odb_templates")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) for p in spec.submodule_search_locations]
    package = Path(__file__).resolve().parent
    candidates += [package / "odb_templates", package.parent / "odb_templates"]
    for path in candidates:
        if path.is_dir() and any(path.glob("*.json")):
            return path
    raise ConfigError("no ODB templates found (looked in: "
                      + ", ".join(str(p) for p in candidates) + f"); set {TEMPLATES_ENV}")


@dataclass(frozen=True)
class TemplateKey:
    """One ODB key a template defines: a value (or an empty directory) and its type."""

    path: str
    value: Any
    tid: int | None = None
    item_size: int | None = None
    source: str = ""

    @property
    def is_directory(self) -> bool:
        return isinstance(self.value, Mapping)


def load_templates(directory: str | os.PathLike[str] | None = None) -> OrderedDict[str, Any]:
    """All template files of `directory` merged into one tree (files in name order)."""
    folder = templates_dir(directory)
    tree: OrderedDict[str, Any] = OrderedDict()
    origins: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=OrderedDict)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"ODB template {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"ODB template {path}: the top level must be a JSON object")
        _merge(tree, _with_folder(data, str(folder.resolve())), "", path.name, origins)
    return tree


def _with_folder(data: Any, folder: str) -> Any:
    """`data` with `{odb_templates}` in its strings replaced by the template folder."""
    if isinstance(data, str):
        return data.replace("{odb_templates}", folder)
    if isinstance(data, Mapping):
        return OrderedDict((k, _with_folder(v, folder)) for k, v in data.items())
    if isinstance(data, list):
        return [_with_folder(v, folder) for v in data]
    return data


def _merge(tree: OrderedDict[str, Any], data: Mapping[str, Any], prefix: str, source: str,
           origins: dict[str, str]) -> None:
    for name, value in data.items():
        path = f"{prefix}/{name}"
        if name not in tree:
            if isinstance(value, Mapping) and not name.endswith("/key"):
                tree[name] = OrderedDict()
                _merge(tree[name], value, path, source, origins)
            else:
                tree[name] = value
                origins[path] = source
            continue
        here = tree[name]
        if isinstance(here, Mapping) and isinstance(value, Mapping) and not name.endswith("/key"):
            _merge(here, value, path, source, origins)
        elif here != value:
            raise ConfigError(f"ODB templates disagree on {path}: {origins.get(path)} has "
                              f"{here!r}, {source} has {value!r}")


def template_keys(tree: Mapping[str, Any], prefix: str = "") -> Iterator[TemplateKey]:
    """Every key of a template tree, parents before children, placeholders expanded."""
    for name, value in tree.items():
        if name.endswith("/key"):
            continue
        path = f"{prefix}/{name}"
        meta = tree.get(f"{name}/key", {})
        if isinstance(value, Mapping):
            if not value:
                yield TemplateKey(path, OrderedDict())
            yield from template_keys(value, path)
            continue
        yield TemplateKey(path, _expand(value), meta.get("type"), meta.get("item_size"))


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        for placeholder, replacement in PLACEHOLDERS.items():
            value = value.replace(placeholder, replacement)
        return value
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def odb_value(key: TemplateKey) -> Any:
    """What to pass to MidasClient.odb_set so the key is created with the template's type."""
    if key.is_directory:
        return OrderedDict()
    value, tid = key.value, key.tid
    if tid is None:
        return value
    if tid == TID_STRING:
        if isinstance(value, list):
            return list(value)
        size = key.item_size or len(value.encode("utf-8")) + 1
        return ctypes.create_string_buffer(value.encode("utf-8"), size)
    if tid == TID_BOOL:
        return [bool(v) for v in value] if isinstance(value, list) else bool(value)
    ctype = _CTYPES.get(tid)
    if ctype is None:
        raise ConfigError(f"ODB template {key.path}: unsupported type {tid}")
    if isinstance(value, list):
        return (ctype * len(value))(*value)
    return ctype(value)


@dataclass(frozen=True)
class Difference:
    """How the ODB differs from a template key: "missing", "differs" (a tuned value) or
    "too small" (a size below what our events need)."""

    key: TemplateKey
    kind: str
    odb: Any = None

    def describe(self) -> str:
        if self.kind == "missing":
            shown = "{}" if self.key.is_directory else json.dumps(self.key.value)
            return f"+ {self.key.path} = {shown}  (not in the ODB)"
        if self.kind == "too small":
            return (f"^ {self.key.path}: ODB has {json.dumps(self.odb)}, our events need at "
                    f"least {json.dumps(self.key.value)}")
        return (f"~ {self.key.path}: ODB has {json.dumps(self.odb)}, template has "
                f"{json.dumps(self.key.value)}")


def _same(odb: Any, template: Any) -> bool:
    if isinstance(odb, (list, tuple)) or isinstance(template, list):
        odb_list = list(odb) if isinstance(odb, (list, tuple)) else [odb]
        tpl_list = list(template) if isinstance(template, list) else [template]
        return len(odb_list) == len(tpl_list) and all(map(_same, odb_list, tpl_list))
    if isinstance(odb, float) and isinstance(template, (int, float)) \
            and not isinstance(template, bool):
        return math.isclose(odb, template, rel_tol=1e-6, abs_tol=1e-12)
    return odb == template


# Sizes our events need: a smaller value in the ODB stops the camera from starting, a larger
# one is the experiment's own choice.  These are raised by `install`, never lowered.
_AT_LEAST = ("/experiment/max_event_size", "/experiment/buffer sizes/")


def _is_minimum(path: str) -> bool:
    return path.lower().startswith(_AT_LEAST)


def compare(client: Any, keys: list[TemplateKey]) -> list[Difference]:
    """The template keys missing from the ODB, holding another value there, or (for the
    sizes in `_AT_LEAST`) holding a smaller value than the template's minimum."""
    differences = []
    for key in keys:
        if not client.odb_exists(key.path):
            differences.append(Difference(key, "missing"))
        elif not key.is_directory:
            current = client.odb_get(key.path)
            if _is_minimum(key.path):
                if current < key.value:
                    differences.append(Difference(key, "too small", current))
            elif not _same(current, key.value) and not _is_live(key.path):
                differences.append(Difference(key, "differs", current))
    return differences


# Common keys the running frontend itself writes (status, where it runs): created by the
# templates so the record is whole from the start, never reported as a tuned value
_LIVE_COMMON = ("/status", "/status color", "/frontend host", "/frontend name",
                "/frontend file name")


def _is_live(path: str) -> bool:
    lower = path.lower()
    return "/common/" in lower and lower.endswith(_LIVE_COMMON)


def install(client: Any, keys: list[TemplateKey], dry_run: bool = False,
            force: frozenset[str] = frozenset()) -> list[Difference]:
    """Create the missing keys (and overwrite those under a `force` path); return what was
    (or, with dry_run, would be) written.  Tuned values elsewhere are left alone."""
    forced = {p.rstrip("/").lower() for p in force}
    written = []
    for difference in compare(client, keys):
        path = difference.key.path.lower()
        overwrite = any(path == f or path.startswith(f + "/") for f in forced) \
            or _moved_page_file(difference)
        if difference.kind == "differs" and not overwrite:
            continue
        written.append(difference)
        if not dry_run:
            if difference.kind in ("differs", "too small"):
                client.odb_set(difference.key.path, difference.key.value)
            else:
                client.odb_set(difference.key.path, odb_value(difference.key))
    return written


def _moved_page_file(difference: Difference) -> bool:
    """A `/Custom` key naming one of our page files in another folder (a moved install)."""
    key, odb = difference.key, difference.odb
    if difference.kind != "differs" or not key.path.lower().startswith("/custom/") \
            or not isinstance(odb, str) or not isinstance(key.value, str):
        return False
    ours = Path(key.value)
    return ours.parent.name == "custom" and Path(odb).name == ours.name


@dataclass(frozen=True)
class StartCommandUpdate:
    """A /Programs start command of ours that still ran a module path, and its new form."""

    path: str
    old: str
    new: str

    def describe(self) -> str:
        return (f"{self.path}: {json.dumps(self.old)} -> {json.dumps(self.new)}  "
                "(an old module path of cygno-mw; programs are now started by name)")


def modern_start_command(command: str) -> str | None:
    """The program-name form of a start command that runs one of our old module paths
    (flags kept), or None for any other command."""
    match = _LEGACY_COMMAND.match(command)
    if match is None:
        return None
    return f"{PLACEHOLDERS['{cygno_mw}']} {LEGACY_MODULES[match.group(1)]}" + command[match.end():]


def update_start_commands(client: Any, dry_run: bool = False) -> list[StartCommandUpdate]:
    """Rewrite every `/Programs/*/Start command` that runs an old module path of ours;
    commands someone wrote otherwise are never touched."""
    if not client.odb_exists("/Programs"):
        return []
    updates = []
    for name, entry in client.odb_get("/Programs").items():
        if not isinstance(entry, Mapping):
            continue
        command = next((v for k, v in entry.items() if k.lower() == "start command"), None)
        new = modern_start_command(command) if isinstance(command, str) else None
        if new is None:
            continue
        update = StartCommandUpdate(f"/Programs/{name}/Start command", command, new)
        updates.append(update)
        if not dry_run:
            client.odb_set(update.path, new)
    return updates
