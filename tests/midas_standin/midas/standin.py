"""The stand-in's one in-process experiment, and the helpers tests use to drive it.

Not part of the real package: only tests import this module (product code never does).
It holds what mserver, mhttpd and the shared memory hold on a live system: the ODB tree, the
message log, the event buffers, the registered transition callbacks and the alarm state.

Test helpers: `reset()`, `experiment()`, `messages()`, `error_messages()`,
`set_as_user(path, value)` (a shift-crew edit on the ODB page), `run_frontend(fe, iterations)`
(the real run() loop, stopped after `iterations` passes as if from the Programs page),
`request_shutdown(client_name)`.
"""

from __future__ import annotations

import ctypes
import datetime
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import midas

# --------------------------------------------------------------------------- clock


class Clock:
    """Virtual by default: communicate(ms) advances it instead of sleeping, so periodic
    equipment fires after a known number of loop passes and tests never wait."""

    def __init__(self, virtual: bool = True) -> None:
        self.virtual = virtual
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def datetime_now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.now())

    def sleep_ms(self, ms: float) -> None:
        if self.virtual:
            self._offset += ms / 1000.0
        elif ms > 0:
            time.sleep(ms / 1000.0)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (tests: 'a minute passes')."""
        self._offset += seconds


# --------------------------------------------------------------------------- ODB tree


@dataclass(eq=False)
class OdbKey:
    """One ODB key: a directory (TID_KEY), a link, or a typed array of values."""

    name: str
    tid: int
    parent: OdbKey | None = None
    values: list[Any] = field(default_factory=list)
    item_size: int = 0
    children: OrderedDict[str, OdbKey] = field(default_factory=OrderedDict)
    link: str = ""
    last_written: int = 0

    @property
    def num_values(self) -> int:
        return len(self.values)

    def path(self) -> str:
        parts = []
        key: OdbKey | None = self
        while key is not None and key.parent is not None:
            parts.append(key.name)
            key = key.parent
        return "/" + "/".join(reversed(parts))


def default_value(tid: int) -> Any:
    if tid == midas.TID_STRING:
        return ""
    if tid == midas.TID_BOOL:
        return False
    if tid in (midas.TID_FLOAT, midas.TID_DOUBLE):
        return 0.0
    return 0


def split_index(path: str) -> tuple[str, int | None]:
    """'/a/b[3]' -> ('/a/b', 3), as the real client parses single array elements."""
    last = path.rsplit("/", 1)[-1]
    start = last.find("[")
    if start > -1 and last.endswith("]"):
        inside = last[start + 1 : -1]
        if ":" in inside:
            raise KeyError("Array slices are not supported")
        return path[: len(path) - len(last) + start], int(inside)
    return path, None


class Odb:
    """The tree, with MIDAS's case-insensitive names and link following."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.root = OdbKey("", midas.TID_KEY)

    def _parts(self, path: str) -> list[str]:
        return [p for p in path.strip().split("/") if p]

    def find(self, path: str, follow_links: bool = True) -> OdbKey | None:
        key: OdbKey | None = self.root
        for part in self._parts(path):
            if key is not None and key.tid == midas.TID_LINK:
                key = self.find(key.link)
            if key is None or key.tid != midas.TID_KEY:
                return None
            key = key.children.get(part.lower())
            if key is None:
                return None
        if key is not None and key.tid == midas.TID_LINK and follow_links:
            return self.find(key.link)
        return key

    def create(self, path: str, tid: int) -> OdbKey:
        parts = self._parts(path)
        if not parts:
            raise midas.MidasError(midas.status_codes["DB_INVALID_NAME"], "DB_INVALID_NAME")
        key = self.root
        for i, part in enumerate(parts):
            if key.tid == midas.TID_LINK:
                target = self.find(key.link)
                if target is None:
                    raise midas.MidasError(midas.status_codes["DB_INVALID_LINK"], "DB_INVALID_LINK")
                key = target
            if key.tid != midas.TID_KEY:
                raise midas.MidasError(midas.status_codes["DB_INVALID_PARAM"], "DB_INVALID_PARAM")
            child = key.children.get(part.lower())
            last = i == len(parts) - 1
            if child is None:
                child = OdbKey(part, tid if last else midas.TID_KEY, parent=key)
                if last and tid not in (midas.TID_KEY, midas.TID_LINK):
                    child.values = [default_value(tid)]
                    child.item_size = 0
                child.last_written = int(self.clock.now())
                key.children[part.lower()] = child
            elif last:
                raise midas.MidasError(midas.status_codes["DB_KEY_EXIST"], "DB_KEY_EXIST")
            key = child
        return key

    def delete(self, key: OdbKey) -> None:
        if key.parent is not None:
            del key.parent.children[key.name.lower()]
            key.parent = None

    def to_python(self, key: OdbKey, recurse: bool = True, meta: bool = False) -> Any:
        if key.tid == midas.TID_LINK:
            target = self.find(key.link)
            return None if target is None else self.to_python(target, recurse, meta)
        if key.tid != midas.TID_KEY:
            return key.values[0] if key.num_values == 1 else list(key.values)
        out: OrderedDict[str, Any] = OrderedDict()
        for child in key.children.values():
            target = self.find(child.link) if child.tid == midas.TID_LINK else child
            if target is None:
                continue
            if target.tid == midas.TID_KEY:
                out[child.name] = self.to_python(target, recurse, meta) if recurse else {}
            else:
                out[child.name] = self.to_python(target)
            if meta:
                out[child.name + "/key"] = key_metadata(target)
        return out


def key_metadata(key: OdbKey) -> dict[str, Any]:
    """The '/key' entry of a MIDAS JSON dump."""
    meta: dict[str, Any] = {"type": key.tid}
    if key.tid not in (midas.TID_KEY, midas.TID_LINK):
        if key.num_values > 1:
            meta["num_values"] = key.num_values
        if key.tid == midas.TID_STRING:
            meta["item_size"] = key.item_size
    if key.tid == midas.TID_LINK:
        meta["link"] = key.link
    meta["last_written"] = key.last_written
    return meta


# --------------------------------------------------------------------------- messages


@dataclass
class Message:
    time: float
    msg_type: int
    facility: str
    client: str
    routine: str
    text: str

    @property
    def is_error(self) -> bool:
        return bool(self.msg_type & midas.MT_ERROR)

    def formatted(self) -> str:
        """The message-log line, as cm_msg writes it."""
        stamp = datetime.datetime.fromtimestamp(self.time)
        prefix = stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d} "
        prefix += stamp.strftime("%Y/%m/%d ")
        kind = "ERROR" if self.is_error else "INFO"
        line = f"[{self.client},{kind}] "
        if self.is_error:
            line += f"[{self.routine},{kind}] "
        return prefix + line + self.text


# --------------------------------------------------------------------------- event buffers


@dataclass
class BufferedEvent:
    serial: int
    data: bytes
    event_id: int
    trigger_mask: int
    sent_at: float


@dataclass
class EventRequest:
    request_id: int
    client: Any
    handle: int
    event_id: int
    trigger_mask: int
    sampling_type: int
    next_serial: int

    def matches(self, ev: BufferedEvent) -> bool:
        if self.event_id != -1 and ev.event_id != self.event_id:
            return False
        return self.trigger_mask == -1 or bool(ev.trigger_mask & self.trigger_mask)


class EventBuffer:
    """A shared-memory event buffer: a ring of `size` bytes read by requests.

    A GET_ALL request must see every event: when the ring would overwrite an event one of
    them has not read, the real producer blocks (BM_WAIT); a single-threaded test would hang,
    so the stand-in raises instead.  GET_NONBLOCKING / GET_RECENT requests just miss events.
    """

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.events: deque[BufferedEvent] = deque()
        self.used = 0
        self.next_serial = 0
        self.requests: list[EventRequest] = []
        self.cond = threading.Condition()

    def put(self, data: bytes, event_id: int, trigger_mask: int, now: float) -> None:
        if len(data) > self.size:
            raise midas.MidasError(midas.status_codes["BM_NO_MEMORY"], "BM_NO_MEMORY")
        with self.cond:
            if not self.requests:
                self.next_serial += 1
                return
            while self.used + len(data) > self.size and self.events:
                oldest = self.events[0]
                for req in self.requests:
                    if req.sampling_type == midas.GET_ALL and req.next_serial <= oldest.serial:
                        raise RuntimeError(
                            f"stand-in: buffer {self.name} is full and a GET_ALL reader has not "
                            "read its oldest event; the real send_event would block here"
                        )
                self.events.popleft()
                self.used -= len(oldest.data)
            self.events.append(BufferedEvent(self.next_serial, data, event_id, trigger_mask, now))
            self.used += len(data)
            self.next_serial += 1
            self.cond.notify_all()

    def take(self, client: Any, handle: int, now: float) -> bytes | None:
        """The next event any of this client's requests on `handle` wants, or None."""
        with self.cond:
            mine = [r for r in self.requests if r.client is client and r.handle == handle]
            if not mine:
                return None
            for ev in self.events:
                wanted = False
                for req in mine:
                    if ev.serial < req.next_serial:
                        continue
                    if req.sampling_type == midas.GET_RECENT and now - ev.sent_at > 1.0:
                        req.next_serial = ev.serial + 1
                        continue
                    if req.matches(ev):
                        wanted = True
                    req.next_serial = ev.serial + 1
                if wanted:
                    self._drop_consumed()
                    return ev.data
            for req in mine:
                req.next_serial = max(req.next_serial, self.next_serial)
            self._drop_consumed()
            return None

    def _drop_consumed(self) -> None:
        oldest_needed = min((r.next_serial for r in self.requests), default=self.next_serial)
        while self.events and self.events[0].serial < oldest_needed:
            self.used -= len(self.events.popleft().data)


# --------------------------------------------------------------------------- experiment


@dataclass
class Watch:
    client: Any
    key: OdbKey
    path: str
    callback: Callable[..., Any]
    changed_value_only: bool


@dataclass
class TransitionCallback:
    client: Any
    transition: int
    sequence: int
    callback: Callable[..., Any]


class Experiment:
    """Everything a live MIDAS experiment shares between its clients."""

    def __init__(self, virtual_time: bool = True) -> None:
        self.clock = Clock(virtual_time)
        self.odb = Odb(self.clock)
        self.lock = threading.RLock()
        self.messages: list[Message] = []
        self.buffers: dict[str, EventBuffer] = {}
        self.watches: list[Watch] = []
        self.transitions: list[TransitionCallback] = []
        self.clients: list[Any] = []
        self.jrpc_callbacks: dict[str, Callable[..., Any]] = {}
        self.shutdown_after: dict[str, int] = {}
        self.request_id = 0
        self._bootstrap()

    def _bootstrap(self) -> None:
        """The keys a fresh `odbedit` experiment has that our programs read."""
        from midas.client import MidasClient

        admin = MidasClient.__new__(MidasClient)
        admin._attach(self, "ODBEdit")
        admin.odb_set("/Experiment/Name", "standin")
        admin.odb_set("/Experiment/MAX_EVENT_SIZE", ctypes.c_uint32(4 * 1024 * 1024))
        admin.odb_set("/Experiment/Buffer sizes/SYSTEM", ctypes.c_uint32(32 * 1024 * 1024))
        admin.odb_set("/Experiment/Buffer sizes/SYSMSG", ctypes.c_uint32(100000))
        admin.odb_set(
            "/Runinfo",
            OrderedDict(
                [
                    ("State", midas.STATE_STOPPED),
                    ("Online Mode", 1),
                    ("Run number", 0),
                    ("Transition in progress", 0),
                    ("Start abort", 0),
                    ("Requested transition", 0),
                    ("Start time", ctypes.create_string_buffer(b"", 32)),
                    ("Start time binary", ctypes.c_uint32(0)),
                    ("Stop time", ctypes.create_string_buffer(b"", 32)),
                    ("Stop time binary", ctypes.c_uint32(0)),
                ]
            ),
        )
        admin.odb_set("/Logger/Data dir", ".")
        admin.odb_set("/Programs", {})
        admin.odb_set("/Alarms/Alarm system active", True)
        admin.odb_set("/Alarms/Alarms", {})
        for alarm_class in ("Alarm", "Warning"):
            admin.create_alarm_class(alarm_class)
        admin.odb_set("/Equipment", {})
        self.clients.remove(admin)
        self.web_client = admin

    def client_named(self, name: str) -> Any:
        for client in self.clients:
            if client.name.lower() == name.lower():
                return client
        raise KeyError(name)

    def notify(self, key: OdbKey, index: int) -> None:
        """Queue one notification per watcher of `key` or of one of its parents."""
        ancestors = set()
        node: OdbKey | None = key
        while node is not None:
            ancestors.add(id(node))
            node = node.parent
        for watch in self.watches:
            if id(watch.key) in ancestors:
                watch.client._pending.append((watch, key, index))

    def log_message(self, client: str, text: str, is_error: bool, facility: str, routine: str):
        msg_type = midas.MT_ERROR if is_error else midas.MT_INFO
        self.messages.append(Message(self.clock.now(), msg_type, facility, client, routine, text))

    def buffer(self, name: str, size: int) -> EventBuffer:
        with self.lock:
            if name not in self.buffers:
                self.buffers[name] = EventBuffer(name, size)
            return self.buffers[name]


_EXPERIMENT: Experiment | None = None


def experiment() -> Experiment:
    """The current experiment (made on first use)."""
    global _EXPERIMENT
    if _EXPERIMENT is None:
        _EXPERIMENT = Experiment()
    return _EXPERIMENT


def reset(virtual_time: bool = True) -> Experiment:
    """Start over with a fresh experiment (a test fixture calls this before each test)."""
    global _EXPERIMENT
    import midas.frontend

    _EXPERIMENT = Experiment(virtual_time)
    midas.frontend._reset_module_state()
    return _EXPERIMENT


def messages(errors_only: bool = False) -> list[Message]:
    return [m for m in experiment().messages if m.is_error or not errors_only]


def error_messages() -> list[str]:
    return [m.text for m in messages(errors_only=True)]


def set_as_user(path: str, value: Any) -> None:
    """Write a value the way the ODB web page does (watchers are told at their next
    communicate())."""
    experiment().web_client.odb_set(path, value)


def request_shutdown(client_name: str, after_communicate_calls: int = 0) -> None:
    """As 'Stop' on the Programs page: the client's communicate() disconnects and exits
    (SystemExit 0), like the real wrapper on RPC_SHUTDOWN."""
    experiment().shutdown_after[client_name.lower()] = after_communicate_calls


def run_frontend(frontend: Any, iterations: int) -> None:
    """Run the frontend's real run() loop for `iterations` passes (communicate() calls).

    The loop is left with SystemExit(0) like a stop from the Programs page, but the client
    stays connected, so a test can change settings or start a run and call this again.
    """
    frontend.client._loop_budget = iterations
    try:
        frontend.run()
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
    finally:
        frontend.client._loop_budget = None
