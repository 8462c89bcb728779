"""ODB dumps as mlogger stores them in begin/end-of-run events: read JSON, XML, ASCII; write JSON.

Reading gives plain nested dicts with clean Python values; MIDAS's per-key metadata
(the `name/key` entries of JSON dumps, the `type` attributes of XML) is kept apart in
a flat dict keyed by ODB path, and is what turns MIDAS's hex strings for unsigned
values back into ints.  `dump_odb_json` writes the shape of `db_copy_json_save`, the
function mlogger uses, so our files carry the same dumps as real ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from cygno_mw.midasfile import tid as _tid
from cygno_mw.midasfile.errors import MidasFormatError, OdbKeyError

_MISSING: Any = object()
_INT_TIDS = frozenset(
    (_tid.TID_UINT8, _tid.TID_INT8, _tid.TID_UINT16, _tid.TID_INT16, _tid.TID_UINT32,
     _tid.TID_INT32, _tid.TID_INT64, _tid.TID_UINT64, _tid.TID_BITFIELD)
)  # fmt: skip
_FLOAT_TIDS = frozenset((_tid.TID_FLOAT, _tid.TID_DOUBLE))
_SPECIAL_FLOATS = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf,
                   "inf": math.inf, "-inf": -math.inf, "-nan": math.nan}  # fmt: skip
_DEFAULT_ACCESS_MODE = 7  # read | write | delete


@dataclass
class OdbDump:
    """A parsed dump: the values, MIDAS's metadata per key path, and the dump's format."""

    tree: dict[str, Any]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: str = "json"

    def get(self, path: str, default: Any = _MISSING) -> Any:
        return odb_get(self.tree, path, default)


def _as_text(text: str | bytes | bytearray | memoryview) -> str:
    if isinstance(text, str):
        return text.strip("\0 \t\r\n")
    raw = bytes(text).strip(b"\0 \t\r\n")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # MIDAS strings are bytes; old ODBs hold Latin-1


def read_odb_dump(text: str | bytes | bytearray | memoryview) -> OdbDump:
    """Parse a JSON, XML or ASCII (odbedit `save`) ODB dump, recognised by its first byte."""
    body = _as_text(text)
    if body.startswith("{"):
        return _read_json(body)
    if body.startswith("<"):
        return _read_xml(body)
    if body.startswith("["):
        if _is_json(body):  # `[1,2,3]`: JSON, but not the object a JSON dump must be
            raise MidasFormatError("ODB dump in JSON is not an object")
        return _read_ascii(body)
    head = body[:40].encode("unicode_escape").decode("ascii")
    raise MidasFormatError(f"not an ODB dump (neither JSON, XML nor ASCII): starts {head!r}")


def parse_odb_dump(text: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """The values of an ODB dump as nested dicts (metadata dropped: see read_odb_dump)."""
    return read_odb_dump(text).tree


# -- JSON ---------------------------------------------------------------------------------


MAX_ODB_DEPTH = 100  # a real ODB is a few levels deep; deeper is hostile or broken


def _depth(node: Any) -> int:
    """How deeply dicts and lists nest in `node` (without recursion)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_ODB_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return deepest


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _read_json(body: str) -> OdbDump:
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MidasFormatError(f"ODB dump is not valid JSON: {exc}") from None
    except RecursionError:
        raise MidasFormatError("ODB dump in JSON is nested too deeply") from None
    if not isinstance(raw, dict):
        raise MidasFormatError("ODB dump in JSON is not an object")
    if _depth(raw) > MAX_ODB_DEPTH:
        raise MidasFormatError(f"ODB dump in JSON is nested more than {MAX_ODB_DEPTH} deep")
    metadata: dict[str, dict[str, Any]] = {}
    header = {k[1:]: v for k, v in raw.items() if k.startswith("/")}
    if header:
        metadata["/"] = header
    try:
        return OdbDump(_clean_json_dir(raw, "", metadata), metadata, "json")
    except RecursionError:
        raise MidasFormatError("ODB dump in JSON is nested too deeply") from None


def _clean_json_dir(node: dict[str, Any], path: str, metadata: dict[str, dict]) -> dict:
    out: dict[str, Any] = {}
    for name, value in node.items():
        if "/" in name:  # "x/key", "x/last_written", "x/name", or a file header key
            continue
        key_path = f"{path}/{name}"
        if isinstance(value, dict):
            out[name] = _clean_json_dir(value, key_path, metadata)
            continue
        info = node.get(f"{name}/key")
        info = dict(info) if isinstance(info, dict) else {}
        last_written = node.get(f"{name}/last_written")
        if last_written is not None:
            info.setdefault("last_written", last_written)
        if info:
            metadata[key_path] = info
        tid = info.get("type")
        if isinstance(value, list):
            out[name] = [_json_value(v, tid) for v in value]
        else:
            out[name] = _json_value(value, tid)
    return out


def _json_value(value: Any, tid: int | None) -> Any:
    """MIDAS writes unsigned ints as "0x..." strings and NaN/Infinity as strings."""
    if not isinstance(value, str) or tid is None:
        return value
    if tid in _INT_TIDS:
        try:
            return _parse_int(value)
        except ValueError:
            return value
    if tid in _FLOAT_TIDS and value.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value.lower()]
    return value


def _parse_int(text: str) -> int:
    text = text.strip()
    return int(text, 16) if text[:2].lower() == "0x" else int(text)


# -- XML ----------------------------------------------------------------------------------


def _read_xml(body: str) -> OdbDump:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise MidasFormatError(f"ODB dump is not valid XML: {exc}") from None
    if root.tag != "odb":
        raise MidasFormatError(f"XML ODB dump has root <{root.tag}>, expected <odb>")
    metadata: dict[str, dict[str, Any]] = {"/": {"root": root.get("root", "/")}}
    return OdbDump(_xml_dir(root, "", metadata), metadata, "xml")


def _xml_dir(element: ElementTree.Element, path: str, metadata: dict[str, dict]) -> dict:
    out: dict[str, Any] = {}
    for child in element:
        name = child.get("name", "")
        key_path = f"{path}/{name}"
        if child.tag == "dir":
            out[name] = _xml_dir(child, key_path, metadata)
            continue
        if child.tag not in ("key", "keyarray"):
            continue
        tid = _tid.tid_from_name(child.get("type", "STRING"))
        info: dict[str, Any] = {"type": tid}
        if child.get("size"):
            info["item_size"] = int(child.get("size", "0"))
        if child.tag == "keyarray":
            values = sorted(child.iter("value"), key=lambda v: int(v.get("index", "0") or 0))
            info["num_values"] = int(child.get("num_values", len(values)))
            out[name] = [_text_value(v.text or "", tid) for v in values]
        else:
            out[name] = _text_value(child.text or "", tid)
        metadata[key_path] = info
    return out


def _text_value(text: str, tid: int) -> Any:
    """A value as `db_sprintf` prints it (XML and ASCII dumps)."""
    try:
        if tid in _INT_TIDS:
            return _parse_int(text)
        if tid in _FLOAT_TIDS:
            lowered = text.strip().lower()
            return _SPECIAL_FLOATS[lowered] if lowered in _SPECIAL_FLOATS else float(text)
    except ValueError:
        return text
    if tid == _tid.TID_BOOL:
        return text.strip().lower() in ("y", "1", "true", "yes")
    return text


# -- ASCII (odbedit "save" / db_copy) -------------------------------------------------------

_ASCII_KEY = re.compile(
    r"^(?P<name>.*?) = (?P<type>[A-Z0-9]+)(?:\[(?P<n>\d+)\])? :\s?(?P<rest>.*)$"
)
_ASCII_ITEM = re.compile(r"^\[(?P<n>\d+)\]\s?(?P<value>.*)$")
_MULTILINE_START = "[====#$@$#====]"
_MULTILINE_END = "====#$@$#===="


def _read_ascii(body: str) -> OdbDump:
    tree: dict[str, Any] = {}
    metadata: dict[str, dict[str, Any]] = {}
    lines = body.splitlines()
    current = tree
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]") and " = " not in line:
            section = line[1:-1].strip("/")
            section = "" if section == "." else section
            current = _make_dirs(tree, section)
            continue
        match = _ASCII_KEY.match(line)
        if match is None:
            raise MidasFormatError(f"ASCII ODB dump: cannot read line {i}: {line[:60]!r}")
        name, tid = match["name"], _tid.tid_from_name(match["type"])
        key_path = f"/{section}/{name}" if section else f"/{name}"
        info: dict[str, Any] = {"type": tid}
        if match["n"] is not None:
            count = int(match["n"])
            items = []
            for _ in range(count):
                item = _ASCII_ITEM.match(lines[i]) if i < len(lines) else None
                i += 1
                items.append(_text_value(item["value"] if item else "", tid))
            info["num_values"] = count
            current[name] = items
        elif match["rest"] == _MULTILINE_START:
            end = lines.index(_MULTILINE_END, i) if _MULTILINE_END in lines[i:] else len(lines)
            current[name] = "\n".join(lines[i:end])
            i = end + 1
        else:
            rest = match["rest"]
            sized = _ASCII_ITEM.match(rest) if tid in (_tid.TID_STRING, _tid.TID_LINK) else None
            if sized:
                info["item_size"] = int(sized["n"])
                rest = sized["value"]
            current[name] = _text_value(rest, tid)
        metadata[key_path] = info
    return OdbDump(tree, metadata, "ascii")


def _make_dirs(tree: dict[str, Any], section: str) -> dict[str, Any]:
    node = tree
    for part in filter(None, section.split("/")):
        node = node.setdefault(part, {})
    return node


# -- lookup -------------------------------------------------------------------------------

_INDEXED = re.compile(r"^(?P<name>.*)\[(?P<index>\d+)\]$")


def odb_get(tree: Mapping[str, Any], path: str, default: Any = _MISSING) -> Any:
    """The value at an ODB `path` like "/Configurations/Exposure" or "/X/Values[2]".

    Names match case-insensitively, as in MIDAS.  Without `default`, a missing key
    raises OdbKeyError (a KeyError) that names the first missing component.
    """
    node: Any = tree
    walked = ""
    for part in filter(None, path.split("/")):
        found = _child(node, part)
        if found is _MISSING:
            indexed = _INDEXED.match(part)
            if indexed:
                array = _child(node, indexed["name"])
                index = int(indexed["index"])
                if isinstance(array, list) and index < len(array):
                    found = array[index]
        if found is _MISSING:
            if default is not _MISSING:
                return default
            raise OdbKeyError(f"ODB has no key {part!r} under {walked or '/'} (path {path!r})")
        node = found
        walked += "/" + part
    return node


def _child(node: Any, name: str) -> Any:
    if not isinstance(node, Mapping):
        return _MISSING
    if name in node:
        return node[name]
    lowered = name.lower()
    for key, value in node.items():
        if key.lower() == lowered:
            return value
    return _MISSING


# -- writing JSON -------------------------------------------------------------------------


def dump_odb_json(
    tree: Mapping[str, Any], metadata: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """An ODB tree as mlogger's JSON dump: each value preceded by its `name/key` metadata.

    Types come from `metadata` (as read_odb_dump returns it) where it has the path,
    otherwise from the Python values (bool, int, float, str, lists of them).
    """
    out: list[str] = []
    _dump_dir(tree, "", 0, out, metadata or {})
    return "".join(out) + "\n"


def _dump_dir(
    node: Mapping[str, Any], path: str, level: int, out: list[str], metadata: Mapping
) -> None:
    out.append("{")
    indent = "  " * (level + 1)
    first = True
    for key, value in node.items():
        out.append("\n" if first else ",\n")
        first = False
        name = str(key)
        key_path = f"{path}/{name}"
        quoted = _quote(name)
        if isinstance(value, Mapping):
            out.append(f"{indent}{quoted} : ")
            _dump_dir(value, key_path, level + 1, out, metadata)
            continue
        values = _plain(value)
        info = dict(metadata.get(key_path, {}))
        tid = info.get("type") or _infer_tid(values)
        key_fields = [f'"type" : {tid}']
        if "link" in info:
            key_fields.append(f'"link" : {_quote(str(info["link"]))}')
        if isinstance(values, list) and len(values) != 1:
            key_fields.append(f'"num_values" : {len(values)}')
        if tid in (_tid.TID_STRING, _tid.TID_LINK):
            key_fields.append(f'"item_size" : {info.get("item_size") or _item_size(values)}')
        key_fields.append(f'"access_mode" : {info.get("access_mode", _DEFAULT_ACCESS_MODE)}')
        key_fields.append(f'"last_written" : {info.get("last_written", 0)}')
        out.append(f"{indent}{_quote(name + '/key')} : {{ {', '.join(key_fields)} }},\n")
        if isinstance(values, list):
            body = "[ " + ", ".join(_format_value(v, tid) for v in values) + " ]"
        else:
            body = _format_value(values, tid)
        out.append(f"{indent}{quoted} : {body}")
    out.append("\n" + "  " * level + "}")


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python values; tuples as lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    return value


def _infer_tid(value: Any) -> int:
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(v, bool) for v in items):
        return _tid.TID_BOOL
    if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        fits = all(-(2**31) <= v < 2**31 for v in items)
        return _tid.TID_INT32 if fits else _tid.TID_INT64
    if items and all(_is_number(v) for v in items):
        return _tid.TID_DOUBLE
    if not items:
        return _tid.TID_INT32
    return _tid.TID_STRING


def _is_number(value: Any) -> bool:
    """Ints, floats, and the strings MIDAS writes for NaN and infinities."""
    if isinstance(value, str):
        return value.lower() in _SPECIAL_FLOATS
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _item_size(value: Any) -> int:
    items = value if isinstance(value, list) else [value]
    longest = max((len(str(v).encode("utf-8")) for v in items), default=0)
    return max(256, longest + 1)


def _format_value(value: Any, tid: int) -> str:
    if value is None:
        return '""'
    if tid == _tid.TID_BOOL:
        return "true" if value else "false"
    if tid == _tid.TID_UINT16:
        return f'"0x{int(value) & 0xFFFF:04x}"'
    if tid == _tid.TID_UINT32:
        return f'"0x{int(value) & 0xFFFFFFFF:08x}"'
    if tid in _INT_TIDS:
        return str(int(value))
    if tid in _FLOAT_TIDS:
        number = float(value)
        if math.isnan(number):
            return '"NaN"'
        if math.isinf(number):
            return '"Infinity"' if number > 0 else '"-Infinity"'
        if number == 0:
            return "0"
        if number == int(number) and abs(number) < 2**31:
            return f"{number:.0f}"
        return f"{number:.7e}" if tid == _tid.TID_FLOAT else f"{number:.16e}"
    return _quote(str(value))


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
