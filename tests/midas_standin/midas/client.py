"""Stand-in for `midas.client.MidasClient`: the ODB, runs, buffers, messages and alarms.

Method names, arguments, defaults, return values and raised exceptions follow the real client;
the state lives in `midas.standin`'s in-process experiment instead of shared memory.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import datetime
import inspect
import os
import struct
import time
import traceback
from collections import deque
from typing import Any

import midas
import midas.event
from midas import standin
from midas.standin import OdbKey, split_index

_CTYPE_OF_TID: dict[int, type] = {
    midas.TID_BYTE: ctypes.c_ubyte,
    midas.TID_CHAR: ctypes.c_ubyte,
    midas.TID_SBYTE: ctypes.c_byte,
    midas.TID_WORD: ctypes.c_ushort,
    midas.TID_SHORT: ctypes.c_short,
    midas.TID_DWORD: ctypes.c_uint,
    midas.TID_BITFIELD: ctypes.c_uint,
    midas.TID_INT: ctypes.c_int,
    midas.TID_BOOL: ctypes.c_uint,
    midas.TID_FLOAT: ctypes.c_float,
    midas.TID_DOUBLE: ctypes.c_double,
}
_FLOAT_TIDS = (midas.TID_FLOAT, midas.TID_DOUBLE)
_TRANSITION_NAMES = {
    midas.TR_START: "START",
    midas.TR_STOP: "STOP",
    midas.TR_PAUSE: "PAUSE",
    midas.TR_RESUME: "RESUME",
    midas.TR_STARTABORT: "STARTABORT",
}


def _is_list_like(value: Any) -> bool:
    # As the real client: numpy arrays are NOT list-like (odb_set of one raises TypeError).
    return isinstance(value, (list, tuple, ctypes.Array))


def _is_char_array(value: Any) -> bool:
    return isinstance(value, ctypes.Array) and value._type_ == ctypes.c_char


def _ctime(stamp: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(stamp))


class MidasClient:
    """One connection to the (in-process) experiment."""

    def __init__(
        self,
        client_name: str,
        host_name: str | None = None,
        expt_name: str | None = None,
        daemon_flag: int | None = None,
    ) -> None:
        self._attach(standin.experiment(), client_name)
        self.host_name = host_name
        self.expt_name = expt_name

    def _attach(self, exp: standin.Experiment, client_name: str) -> None:
        self._exp = exp
        self.name = client_name
        self.hDB = 1
        self.hClient = len(exp.clients) + 1
        self.event_buffers: dict[int, str] = {}
        self._receive_limit: dict[int, int] = {}
        self._next_handle = 1
        self._pending: deque = deque()
        self._loop_budget: int | None = None
        self._connected = True
        exp.clients.append(self)

    # ------------------------------------------------------------------ connection

    def disconnect(self) -> None:
        if not getattr(self, "_connected", False):
            return
        exp = self._exp
        with exp.lock:
            exp.watches = [w for w in exp.watches if w.client is not self]
            exp.transitions = [t for t in exp.transitions if t.client is not self]
            for buf in exp.buffers.values():
                buf.requests = [r for r in buf.requests if r.client is not self]
            if self in exp.clients:
                exp.clients.remove(self)
        self._connected = False

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.disconnect()

    def msg(self, message: str, is_error: bool = False, facility: str = "midas") -> None:
        caller = inspect.getframeinfo(inspect.stack()[1][0])
        routine = f"{os.path.basename(caller.filename)}:{caller.lineno}:{caller.function}"
        self._exp.log_message(self.name, message, is_error, facility, routine)

    def communicate(self, time_ms: int) -> None:
        """Deliver queued ODB notifications, let (virtual) time pass, obey a stop request."""
        self._deliver_notifications()
        self._exp.clock.sleep_ms(time_ms)
        self._deliver_notifications()
        stop_in = self._exp.shutdown_after.get(self.name.lower())
        if stop_in is not None:
            if stop_in <= 0:
                del self._exp.shutdown_after[self.name.lower()]
                print("Midas shutdown")
                self.disconnect()
                raise SystemExit(0)
            self._exp.shutdown_after[self.name.lower()] = stop_in - 1
        if self._loop_budget is not None:
            self._loop_budget -= 1
            if self._loop_budget <= 0:
                raise SystemExit(0)

    def _deliver_notifications(self) -> None:
        delivered = 0
        while self._pending:
            watch, key, index = self._pending.popleft()
            delivered += 1
            if delivered > 10000:
                raise RuntimeError("stand-in: ODB callbacks keep re-triggering each other")
            if watch not in self._exp.watches:
                continue
            try:
                if watch.changed_value_only:
                    changed_path = key.path()
                    value = self.odb_get(changed_path, recurse_dir=True)
                    idx: int | None = index
                    if isinstance(value, list):
                        value = value[index]
                    else:
                        idx = None
                    args: tuple = (self, changed_path, idx, value)
                else:
                    args = (self, watch.path, self.odb_get(watch.path, recurse_dir=True))
            except KeyError:
                continue
            try:
                watch.callback(*args)
            except Exception as exc:
                traceback.print_exc()
                text = str(exc) or type(exc).__name__
                self.msg(f"Exception raised during callback on {watch.path}: {text}", True)

    # ------------------------------------------------------------------ ODB

    def _odb_strip_final_slash(self, path: str) -> str:
        if path in ("", "/"):
            return "/"
        return path[:-1] if path.endswith("/") else path

    def _find(self, path: str, follow_links: bool = True) -> OdbKey:
        key = self._exp.odb.find(path, follow_links)
        if key is None:
            raise KeyError(f"Key '{path}' not found in ODB")
        return key

    def odb_exists(self, path: str) -> bool:
        base, _ = split_index(self._odb_strip_final_slash(path))
        return self._exp.odb.find(base) is not None

    def odb_delete(self, path: str, follow_links: bool = False) -> None:
        with self._exp.lock:
            self._exp.odb.delete(self._find(self._odb_strip_final_slash(path), follow_links))

    def odb_get(self, path: str, recurse_dir: bool = True, include_key_metadata: bool = False):
        path = self._odb_strip_final_slash(path)
        base, index = split_index(path)
        with self._exp.lock:
            key = self._find(base)
            if key.tid == midas.TID_KEY:
                value = self._exp.odb.to_python(key, recurse_dir, include_key_metadata)
            elif index is not None:
                if index >= key.num_values:
                    raise midas.MidasError(midas.status_codes["DB_OUT_OF_RANGE"], "DB_OUT_OF_RANGE")
                value = key.values[index]
            else:
                value = self._exp.odb.to_python(key)
            if include_key_metadata:
                return {key.name: value, key.name + "/key": standin.key_metadata(key)}
            return value

    def odb_set(
        self,
        path: str,
        contents: Any,
        create_if_needed: bool = True,
        remove_unspecified_keys: bool = True,
        resize_arrays: bool = True,
        lengthen_strings: bool = True,
        explicit_new_midas_type: int | None = None,
        update_structure_only: bool = False,
    ) -> None:
        path = self._odb_strip_final_slash(path)
        base, index = split_index(path)
        odb = self._exp.odb
        with self._exp.lock:
            did_create = False
            if odb.find(base) is None:
                if not create_if_needed:
                    raise KeyError("ODB path doesn't exist")
                tid = explicit_new_midas_type or self._ctype_to_midas_type(contents)
                odb.create(base, tid)
                did_create = True
            key = self._find(base)
            if key.tid == midas.TID_STRING and (lengthen_strings or did_create):
                key.item_size = max(key.item_size, self._get_max_str_len(contents))
            if key.tid != midas.TID_KEY and (resize_arrays or did_create):
                if index is not None:
                    wanted = max(key.num_values, index)
                else:
                    wanted = self._content_len(key, contents)
                self._resize(key, wanted)
            if key.tid == midas.TID_KEY:
                self._set_directory(
                    key, path, contents, did_create, create_if_needed, remove_unspecified_keys,
                    resize_arrays, lengthen_strings, update_structure_only,
                )
                return
            values = self._convert(key, contents)
            if index is not None:
                if index >= key.num_values:
                    self._resize(key, index + 1)
                key.values[index] = values[0]
            else:
                if key.num_values != len(values):
                    raise ValueError(
                        f"ODB array length is {key.num_values}, but you provided "
                        f"{len(values)} values"
                    )
                key.values = values
            key.last_written = int(self._exp.clock.now())
            self._exp.notify(key, -1 if index is None else index)

    def _set_directory(
        self, key: OdbKey, path: str, contents: Any, did_create: bool, create_if_needed: bool,
        remove_unspecified_keys: bool, resize_arrays: bool, lengthen_strings: bool,
        update_structure_only: bool,
    ) -> None:
        if not isinstance(contents, dict):
            raise TypeError("Pass a dict when setting the content of a midas directory")
        prefix = path if path.endswith("/") else path + "/"
        if remove_unspecified_keys:
            for child in list(key.children.values()):
                if child.name not in contents:
                    self._exp.odb.delete(child)
        for name, value in contents.items():
            update = did_create or isinstance(value, dict) or not update_structure_only
            if update or not self.odb_exists(prefix + name):
                self.odb_set(
                    prefix + name, value, create_if_needed, remove_unspecified_keys,
                    resize_arrays, lengthen_strings, update_structure_only=update_structure_only,
                )
        if isinstance(contents, collections.OrderedDict):
            ordered = collections.OrderedDict()
            for name in contents:
                child = key.children.get(name.lower())
                if child is not None:
                    ordered[name.lower()] = child
            for lower, child in key.children.items():
                ordered.setdefault(lower, child)
            key.children = ordered

    def _content_len(self, key: OdbKey, contents: Any) -> int:
        if _is_list_like(contents):
            if key.tid == midas.TID_STRING and _is_char_array(contents):
                return 1
            return len(contents)
        return 1

    def _resize(self, key: OdbKey, wanted: int) -> None:
        if wanted < key.num_values:
            del key.values[wanted:]
        while key.num_values < wanted:
            key.values.append(standin.default_value(key.tid))

    def _get_max_str_len(self, contents: Any) -> int:
        if contents is None:
            size = 32
        elif _is_char_array(contents):
            size = len(contents) + (0 if contents[-1] == b"\x00" else 1)
        elif _is_list_like(contents):
            size = max(len(x) for x in contents) + 1
        else:
            size = len(contents) + 1
        return min(size, midas.MAX_STRING_LENGTH)

    def _convert(self, key: OdbKey, contents: Any) -> list[Any]:
        """Python values stored for `contents` in a key of this type (the real casts)."""
        if key.tid == midas.TID_STRING:
            items = [contents] if (_is_char_array(contents) or not _is_list_like(contents)) else (
                list(contents)
            )
            return [self._to_str(item, key.item_size) for item in items]
        if key.tid in (midas.TID_INT64, midas.TID_QWORD):
            raise TypeError("ODB does not support 64-bit values")
        ctype = _CTYPE_OF_TID.get(key.tid)
        if ctype is None:
            raise NotImplementedError(f"Requested midas type ({key.tid}) not handled yet")
        items = list(contents) if _is_list_like(contents) else [contents]
        cast = float if key.tid in _FLOAT_TIDS else int
        out = []
        for item in items:
            if isinstance(item, ctypes._SimpleCData):
                if isinstance(item, ctype):
                    raw = item.value
                elif key.tid == midas.TID_BOOL and isinstance(item, ctypes.c_bool):
                    raw = int(item.value)
                else:
                    raise TypeError(f"Expected a {ctype} but you provided a {type(item)}")
            elif isinstance(item, str) and item.startswith("0x"):
                raw = cast(item, 16) if cast is int else float(int(item, 16))
            else:
                raw = cast(item)
            stored = ctype(raw).value
            out.append(bool(stored) if key.tid == midas.TID_BOOL else stored)
        return out

    @staticmethod
    def _to_str(item: Any, item_size: int) -> str:
        if _is_char_array(item):
            text = item.value.decode("utf-8", "ignore")
        elif isinstance(item, bytes):
            text = item.decode("utf-8", "ignore")
        elif isinstance(item, str):
            text = item
        else:
            raise TypeError(f"'{type(item).__name__}' object is not subscriptable")
        return text[: max(item_size - 1, 0)]

    def _ctype_to_midas_type(self, value: Any) -> int:
        if isinstance(value, ctypes.Array):
            value = value._type_()
            if isinstance(value, ctypes.c_char):
                return midas.TID_STRING
        if isinstance(value, (list, tuple)):
            if len(value) == 0:
                raise ValueError("Can't determine type of 0-length array")
            value = value[0]
        if value is True or value is False or isinstance(value, ctypes.c_bool):
            return midas.TID_BOOL
        if isinstance(value, (int, ctypes.c_int)):
            return midas.TID_INT
        if isinstance(value, (float, ctypes.c_double)):
            return midas.TID_DOUBLE
        if isinstance(value, ctypes.c_float):
            return midas.TID_FLOAT
        if isinstance(value, str) or _is_char_array(value):
            return midas.TID_STRING
        if isinstance(value, dict):
            return midas.TID_KEY
        for ctype, tid in (
            (ctypes.c_ubyte, midas.TID_BYTE), (ctypes.c_byte, midas.TID_SBYTE),
            (ctypes.c_ushort, midas.TID_WORD), (ctypes.c_short, midas.TID_SHORT),
            (ctypes.c_uint, midas.TID_DWORD), (ctypes.c_int64, midas.TID_INT64),
            (ctypes.c_uint64, midas.TID_QWORD),
        ):
            if isinstance(value, ctype):
                return tid
        raise TypeError(f"Couldn't find an appropriate midas type for value of type {type(value)}")

    def _midas_type_to_ctype(
        self, midas_type: int, array_len: int | None = None, str_len: int | None = None,
        initial_value: Any = None,
    ) -> Any:
        """The ctypes value the real client builds (used by the frontend's history copy)."""
        if array_len is None:
            if _is_list_like(initial_value):
                array_len = len(initial_value)
                if array_len == 1:
                    initial_value = initial_value[0]
            else:
                array_len = 1
        if midas_type == midas.TID_STRING:
            size = str_len or self._get_max_str_len(initial_value)
            text = b"" if initial_value is None else initial_value
            if isinstance(text, str):
                text = text.encode("utf-8")
            return ctypes.create_string_buffer(text[:size], size)
        if midas_type in (midas.TID_INT64, midas.TID_QWORD):
            raise TypeError("ODB does not support 64-bit values")
        ctype = _CTYPE_OF_TID[midas_type]
        cast = float if midas_type in _FLOAT_TIDS else int
        if array_len == 1:
            if isinstance(initial_value, ctypes._SimpleCData):
                return initial_value
            return ctype(0 if initial_value is None else cast(initial_value))
        if initial_value is None:
            return (ctype * array_len)()
        return (ctype * array_len)(*[cast(x) for x in initial_value])

    def odb_link(self, link_path: str, destination_path: str) -> None:
        link_path = self._odb_strip_final_slash(link_path)
        destination_path = self._odb_strip_final_slash(destination_path)
        with self._exp.lock:
            current = self._exp.odb.find(link_path, follow_links=False)
            if current is not None:
                if current.tid != midas.TID_LINK:
                    raise ValueError(f"Path '{link_path}' already exists, but isn't a link")
                current.link = destination_path
            else:
                self._exp.odb.create(link_path, midas.TID_LINK).link = destination_path

    def odb_get_link_destination(self, link_path: str) -> str:
        return self._find(self._odb_strip_final_slash(link_path), follow_links=False).link

    def odb_rename(self, current_path: str, new_name: str) -> None:
        with self._exp.lock:
            key = self._find(self._odb_strip_final_slash(current_path))
            parent = key.parent
            assert parent is not None
            renamed = collections.OrderedDict()
            for lower, child in parent.children.items():
                renamed[new_name.lower() if child is key else lower] = child
            key.name = new_name
            parent.children = renamed

    def odb_last_update_time(self, path: str) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._find(path).last_written)

    def odb_watch(self, path: str, callback, pass_changed_value_only: bool = False) -> None:
        path = self._odb_strip_final_slash(path)
        with self._exp.lock:
            key = self._find(path)
            self._exp.watches = [
                w for w in self._exp.watches if not (w.client is self and w.path == path)
            ]
            self._exp.watches.append(
                standin.Watch(self, key, path, callback, pass_changed_value_only)
            )

    def odb_stop_watching(self, path: str) -> None:
        path = self._odb_strip_final_slash(path)
        self._find(path)
        self._exp.watches = [
            w for w in self._exp.watches if not (w.client is self and w.path == path)
        ]

    # ------------------------------------------------------------------ event buffers

    def open_event_buffer(
        self, buffer_name: str, buf_size: int | None = None, max_event_size: int | None = None
    ) -> int:
        if max_event_size is None:
            max_event_size = self.odb_get("/Experiment/MAX_EVENT_SIZE")
        if buf_size is None:
            buf_size = max_event_size * 10
        size_key = f"/Experiment/Buffer sizes/{buffer_name}"
        if not self.odb_exists(size_key):
            self.odb_set(size_key, ctypes.c_uint32(buf_size))
        self._exp.buffer(buffer_name, int(self.odb_get(size_key)))
        handle = self._next_handle
        self._next_handle += 1
        self.event_buffers[handle] = buffer_name
        self._receive_limit[handle] = max_event_size + 100
        return handle

    def _buffer(self, buffer_handle: int) -> standin.EventBuffer:
        name = self.event_buffers.get(buffer_handle)
        if name is None:
            raise midas.MidasError(midas.status_codes["BM_INVALID_HANDLE"], "BM_INVALID_HANDLE")
        return self._exp.buffers[name]

    def send_event(self, buffer_handle: int, event: midas.event.Event) -> None:
        buf = event.pack()
        size = len(buf)
        if size < midas.event.event_header_size:
            raise midas.MidasError(220, "UNKNOWN_STATUS_CODE")  # BM_INVALID_SIZE
        event_id, trigger_mask, _serial, _stamp, data_size = struct.unpack_from("<HHIII", buf, 0)
        if data_size == 0 or size != midas.event.event_header_size + data_size:
            raise midas.MidasError(220, "UNKNOWN_STATUS_CODE")  # BM_INVALID_SIZE
        self._buffer(buffer_handle).put(bytes(buf), event_id, trigger_mask, self._exp.clock.now())

    def register_event_request(
        self, buffer_handle: int, event_id: int = -1, trigger_mask: int = -1,
        sampling_type: int = midas.GET_ALL,
    ) -> int:
        buf = self._buffer(buffer_handle)
        with buf.cond:
            self._exp.request_id += 1
            buf.requests.append(
                standin.EventRequest(
                    self._exp.request_id, self, buffer_handle, ctypes.c_short(event_id).value,
                    ctypes.c_short(trigger_mask).value, sampling_type, buf.next_serial,
                )
            )
        return self._exp.request_id

    def receive_event(
        self, buffer_handle: int, async_flag: bool = True, use_numpy: bool = False
    ) -> midas.event.Event | None:
        buf = self._buffer(buffer_handle)
        deadline = time.monotonic() + 60
        while True:
            data = buf.take(self, buffer_handle, self._exp.clock.now())
            if data is not None or async_flag:
                break
            with buf.cond:
                buf.cond.wait(timeout=0.05)
            if time.monotonic() > deadline:
                raise RuntimeError("stand-in: receive_event(async_flag=False) waited 60 s")
        if data is None:
            return None
        if len(data) > self._receive_limit[buffer_handle]:
            raise midas.MidasError(midas.status_codes["BM_TRUNCATED"], "BM_TRUNCATED")
        event = midas.event.Event()
        event.unpack(data, use_numpy=use_numpy)
        return event

    def deregister_event_request(self, buffer_handle: int, request_id: int) -> None:
        buf = self._buffer(buffer_handle)
        with buf.cond:
            buf.requests = [r for r in buf.requests if r.request_id != request_id]

    # ------------------------------------------------------------------ runs

    def start_run(self, run_num: int = 0, async_flag: bool = False) -> None:
        self._run_transition(midas.TR_START, run_num, async_flag)

    def stop_run(self, async_flag: bool = False) -> None:
        self._run_transition(midas.TR_STOP, 0, async_flag)

    def pause_run(self, async_flag: bool = False) -> None:
        self._run_transition(midas.TR_PAUSE, 0, async_flag)

    def resume_run(self, async_flag: bool = False) -> None:
        self._run_transition(midas.TR_RESUME, 0, async_flag)

    def register_transition_callback(self, transition: int, sequence: int, callback) -> None:
        self._exp.transitions = [
            t for t in self._exp.transitions
            if not (t.client is self and t.transition == transition)
        ]
        self._exp.transitions.append(
            standin.TransitionCallback(self, transition, sequence, callback)
        )

    def set_transition_sequence(self, transition: int, sequence: int) -> None:
        for t in self._exp.transitions:
            if t.client is self and t.transition == transition:
                t.sequence = sequence

    def deregister_transition_callback(self, transition: int) -> None:
        self._exp.transitions = [
            t for t in self._exp.transitions
            if not (t.client is self and t.transition == transition)
        ]

    def register_deferred_transition_callback(self, transition: int, callback) -> None:
        raise NotImplementedError("the MIDAS stand-in does not model deferred transitions")

    def _call_transition(self, cb: standin.TransitionCallback, run_number: int):
        try:
            result = cb.callback(cb.client, run_number)
        except Exception as exc:
            traceback.print_exc()
            return midas.status_codes["FE_ERR_DRIVER"], str(exc) or type(exc).__name__
        if result is None:
            return midas.status_codes["SUCCESS"], ""
        if isinstance(result, tuple):
            return int(result[0]), str(result[1])
        return int(result), ""

    def _run_transition(self, trans: int, run_num: int, async_flag: bool) -> int:
        exp = self._exp
        state = self.odb_get("/Runinfo/State")
        allowed = {
            midas.TR_START: (midas.STATE_STOPPED,),
            midas.TR_STOP: (midas.STATE_RUNNING, midas.STATE_PAUSED),
            midas.TR_PAUSE: (midas.STATE_RUNNING,),
            midas.TR_RESUME: (midas.STATE_PAUSED,),
        }
        if state not in allowed[trans]:
            raise midas.TransitionFailedError(
                midas.status_codes["CM_INVALID_TRANSITION"],
                f"{_TRANSITION_NAMES[trans]} not possible in run state {state}",
            )
        now = exp.clock.now()
        run_number = self.odb_get("/Runinfo/Run number")
        if trans == midas.TR_START:
            run_number = run_num if run_num > 0 else run_number + 1
            self.odb_set("/Runinfo/Run number", run_number)
            self.odb_set("/Runinfo/Start time", _ctime(now))
            self.odb_set("/Runinfo/Start time binary", ctypes.c_uint32(int(now)))
            self.odb_set("/Runinfo/Stop time binary", ctypes.c_uint32(0))
            self.odb_set("/Runinfo/Start abort", 0)
        self.odb_set("/Runinfo/Transition in progress", trans)
        done: list[standin.TransitionCallback] = []
        callbacks = sorted(
            (t for t in exp.transitions if t.transition == trans), key=lambda t: t.sequence
        )
        for cb in callbacks:
            status, reason = self._call_transition(cb, run_number)
            if status != midas.status_codes["SUCCESS"]:
                text = (
                    f"Transition {_TRANSITION_NAMES[trans]} aborted: client \"{cb.client.name}\" "
                    f"returned status {status}" + (f": {reason}" if reason else "")
                )
                self.msg(text, True)
                if trans == midas.TR_START:
                    for aborted in sorted(
                        (t for t in exp.transitions if t.transition == midas.TR_STARTABORT),
                        key=lambda t: t.sequence,
                    ):
                        if any(d.client is aborted.client for d in done):
                            self._call_transition(aborted, run_number)
                    self.odb_set("/Runinfo/Start abort", 1)
                self.odb_set("/Runinfo/Transition in progress", 0)
                raise midas.TransitionFailedError(status, reason or text)
            done.append(cb)
        new_state = {
            midas.TR_START: midas.STATE_RUNNING,
            midas.TR_STOP: midas.STATE_STOPPED,
            midas.TR_PAUSE: midas.STATE_PAUSED,
            midas.TR_RESUME: midas.STATE_RUNNING,
        }[trans]
        if trans == midas.TR_STOP:
            self.odb_set("/Runinfo/Stop time", _ctime(now))
            self.odb_set("/Runinfo/Stop time binary", ctypes.c_uint32(int(now)))
        self.odb_set("/Runinfo/State", new_state)
        self.odb_set("/Runinfo/Transition in progress", 0)
        verb = {midas.TR_START: "started", midas.TR_STOP: "stopped",
                midas.TR_PAUSE: "paused", midas.TR_RESUME: "resumed"}[trans]
        self.msg(f"Run #{run_number} {verb}")
        return midas.status_codes["SUCCESS"]

    def get_midas_version(self) -> tuple[str, str]:
        return ("2.1", "stand-in")

    # ------------------------------------------------------------------ JSON-RPC

    def register_jrpc_callback(self, callback, return_success_even_on_failure: bool = False):
        self._exp.jrpc_callbacks[self.name] = callback

    def connect_to_other_client(self, other_client_name: str):
        raise NotImplementedError("the MIDAS stand-in does not model client-to-client RPC")

    # ------------------------------------------------------------------ alarms

    def trigger_internal_alarm(
        self, alarm_name: str, message: str, default_alarm_class: str = "Alarm"
    ) -> None:
        self._trigger_alarm(alarm_name, message, default_alarm_class, midas.AT_INTERNAL, message)

    def _trigger_alarm(self, name: str, message: str, alarm_class: str, kind: int, cond: str):
        path = f"/Alarms/Alarms/{name}"
        if not self.odb_exists(path):
            self.odb_set(path, self._alarm_record(kind, cond, alarm_class, message))
        if not self.odb_get("/Alarms/Alarm system active") or not self.odb_get(path + "/Active"):
            return
        stamp = _ctime(self._exp.clock.now())
        if self.odb_get(path + "/Triggered") == 0:
            self.odb_set(path + "/Time triggered first", stamp)
        self.odb_set(path + "/Triggered", self.odb_get(path + "/Triggered") + 1)
        self.odb_set(path + "/Time triggered last", stamp)
        self.odb_set(path + "/Alarm Message", message)

    @staticmethod
    def _alarm_record(kind: int, condition: str, alarm_class: str, message: str):
        return collections.OrderedDict(
            [
                ("Active", True),
                ("Triggered", 0),
                ("Type", kind),
                ("Check interval", 60),
                ("Checked last", ctypes.c_uint32(0)),
                ("Time triggered first", ctypes.create_string_buffer(32)),
                ("Time triggered last", ctypes.create_string_buffer(32)),
                ("Condition", ctypes.create_string_buffer(condition.encode("utf-8"), 256)),
                ("Alarm Class", ctypes.create_string_buffer(alarm_class.encode("utf-8"), 32)),
                ("Alarm Message", ctypes.create_string_buffer(message.encode("utf-8"), 80)),
            ]
        )

    def create_evaluated_alarm(
        self, alarm_name: str, odb_condition: str, message: str | None = None,
        alarm_class: str = "Alarm", activate_immediately: bool = True,
    ) -> None:
        """Defined in the ODB like the real one; the stand-in never evaluates the condition."""
        record = self._alarm_record(
            midas.AT_EVALUATED, odb_condition, alarm_class, message or odb_condition
        )
        self.odb_set(f"/Alarms/Alarms/{alarm_name}", record)
        self.odb_set(f"/Alarms/Alarms/{alarm_name}/Active", activate_immediately)

    def create_alarm_class(
        self, class_name: str, execute_command: str = "", execute_interval_secs: int = 0,
        stop_run: bool = False,
    ) -> None:
        self.odb_set(
            f"/Alarms/Classes/{class_name}",
            collections.OrderedDict(
                [
                    ("Write system message", True),
                    ("Write Elog message", False),
                    ("System message interval", 60),
                    ("System message last", ctypes.c_uint32(0)),
                    ("Execute command",
                     ctypes.create_string_buffer(execute_command.encode("utf-8"), 256)),
                    ("Execute interval", ctypes.c_int32(execute_interval_secs)),
                    ("Execute last", ctypes.c_uint32(0)),
                    ("Stop run", bool(stop_run)),
                    ("Display BGColor", ctypes.create_string_buffer(b"red", 32)),
                    ("Display FGColor", ctypes.create_string_buffer(b"black", 32)),
                ]
            ),
        )

    def get_triggered_alarms(self) -> dict[str, str]:
        alarms = self.odb_get("/Alarms/Alarms")
        if not self.odb_get("/Alarms/Alarm system active"):
            return {}
        return {
            name: state["Alarm Message"]
            for name, state in alarms.items()
            if state["Active"] and state["Triggered"]
        }

    def reset_alarm(self, alarm_name: str) -> None:
        path = f"/Alarms/Alarms/{alarm_name}"
        if not self.odb_exists(path):
            raise midas.MidasError(midas.status_codes["AL_INVALID_NAME"], "AL_INVALID_NAME")
        self.odb_set(path + "/Triggered", 0)

    # ------------------------------------------------------------------ messages

    def get_message_facilities(self) -> list[str]:
        return sorted({m.facility for m in self._exp.messages} | {"midas"})

    def get_recent_messages(self, min_messages: int = 1, before=None, facility: str = "midas"):
        if isinstance(before, datetime.datetime):
            before = before.timestamp()
        chosen = [
            m for m in self._exp.messages
            if m.facility == facility and (not before or m.time < before)
        ]
        return [m.formatted() for m in reversed(chosen[-min_messages:])]
