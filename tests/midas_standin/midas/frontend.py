"""Stand-in for `midas.frontend`: equipment and frontend base classes with the real behaviour.

Equipment live at /Equipment/<name>/{Common,Settings,Variables,Statistics} with the real key
names and types; Settings are mirrored into `self.settings` and changes reported through
settings_changed_func() then detailed_settings_changed_func(path, idx, value) at the next
communicate(); run() is the real main loop (poll / periodic readout, Read-on masks, statistics
every 3 s, bank copies into Variables when Log history is on, communicate() with the real
yield time).  Tests stop the loop with `midas.standin.run_frontend(fe, iterations)`.

One intended difference: with Common/Event limit > 0 the real develop branch looks up a
statistics key that does not exist (KeyError); the stand-in compares the events sent instead.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import datetime
import logging
import os.path
import socket
import sys
import time

import midas
import midas.client
import midas.event

frontend_index = None
cmd_line_hostname = None
cmd_line_exptname = None
daemon_flag = None
args_parsed = False

logger = logging.getLogger("midas")

parser = argparse.ArgumentParser(add_help=False)
parser.add_argument("-i", type=int, metavar="frontend_index")
parser.add_argument("-h", type=str, metavar="host_name")
parser.add_argument("-e", type=str, metavar="expt_name")
parser.add_argument("-d", action="store_true", help="Debug")
parser.add_argument("-D", action="store_true", help="Become a daemon")
parser.add_argument("-O", action="store_true", help="Become a daemon but retain stdout")
parser.add_argument("--help", action="help", help="Show this help message and exit")


def parse_args():
    """Parse sys.argv with `parser` (-i, -h, -e, -d, -D, -O) into the module state."""
    global frontend_index, cmd_line_hostname, cmd_line_exptname, args_parsed, daemon_flag
    args = parser.parse_args()
    if args.d:
        logger.setLevel(logging.DEBUG)
    frontend_index = args.i if args.i is not None else -1
    cmd_line_hostname = args.h
    cmd_line_exptname = args.e
    daemon_flag = None
    if args.D and args.O:
        raise ValueError("Only -D or -O may be specified, not both")
    if args.D:
        daemon_flag = 0
    elif args.O:
        daemon_flag = 1
    args_parsed = True
    return args


def _reset_module_state() -> None:
    """Stand-in only: as after parse_args() of an empty command line (tests never parse
    pytest's own argv)."""
    global frontend_index, cmd_line_hostname, cmd_line_exptname, args_parsed, daemon_flag
    frontend_index = -1
    cmd_line_hostname = None
    cmd_line_exptname = None
    daemon_flag = None
    args_parsed = True


class InitialEquipmentCommon:
    """Values for /Equipment/<name>/Common the first time the equipment runs."""

    def __init__(self):
        self.equip_type = None
        self.event_id = None
        self.buffer_name = ""
        self.trigger_mask = 0
        self.period_ms = 1000
        self.read_when = midas.RO_RUNNING
        self.log_history = False


def _now(client) -> datetime.datetime:
    return client._exp.clock.datetime_now()


class EquipmentBase:
    """Base of one equipment; subclasses implement readout_func() (and poll_func())."""

    def __init__(self, midas_client, equip_name, default_common, default_settings=None):
        if self._is_initialized():
            return
        if not isinstance(default_common, InitialEquipmentCommon):
            raise TypeError("default_settings should be a InitialEquipmentCommon object")
        if default_common.equip_type is None or default_common.event_id is None:
            raise ValueError("default_settings must have equip_type and event_id set")
        self.name = equip_name
        self.common = None
        self.stats = {"events": 0, "kbytes": 0, "last_events": 0, "last_time": None}
        self.last_get_event_time = None
        self.odb_var_write_period = datetime.timedelta(milliseconds=1000)
        self.last_odb_var_write_time = None
        self.odb_common_dir = f"/Equipment/{self.name}/Common"
        self.odb_stats_dir = f"/Equipment/{self.name}/Statistics"
        self.odb_variables_dir = f"/Equipment/{self.name}/Variables"
        self.odb_settings_dir = f"/Equipment/{self.name}/Settings"
        self.client = midas_client
        self.frontend_name = self.client.name

        if not self.client.odb_exists(self.odb_common_dir):
            host = socket.gethostname().encode("utf-8")
            common = collections.OrderedDict(
                [
                    ("Event ID", ctypes.c_ushort(default_common.event_id)),
                    ("Trigger mask", ctypes.c_ushort(default_common.trigger_mask)),
                    ("Buffer", ctypes.create_string_buffer(
                        default_common.buffer_name.encode("utf-8"), 32)),
                    ("Type", ctypes.c_int32(default_common.equip_type)),
                    ("Source", ctypes.c_int32(0)),
                    ("Format", ctypes.create_string_buffer(b"MIDAS", 8)),
                    ("Enabled", True),
                    ("Read on", ctypes.c_int32(default_common.read_when)),
                    ("Period", ctypes.c_int32(default_common.period_ms)),
                    ("Event limit", ctypes.c_double(0)),
                    ("Num subevents", ctypes.c_uint32(0)),
                    ("Log history", ctypes.c_int32(default_common.log_history)),
                    ("Frontend host", ctypes.create_string_buffer(host, 32)),
                    ("Frontend name", ctypes.create_string_buffer(
                        self.frontend_name.encode("utf-8"), 32)),
                    ("Frontend file name", ctypes.create_string_buffer(
                        os.path.basename(sys.argv[0]).encode("utf-8"), 256)),
                    ("Status", ctypes.create_string_buffer(256)),
                    ("Status color", ctypes.create_string_buffer(32)),
                    ("Hidden", False),
                    ("Write cache size", ctypes.c_int32(100000)),
                ]
            )
            self.client.odb_set(self.odb_common_dir, common)

        self.set_status(f"{self.frontend_name}@{socket.gethostname()}", "greenLight")
        self.common = self.client.odb_get(self.odb_common_dir)
        self.client.odb_watch(self.odb_common_dir, self._odb_common_callback)

        if default_settings is not None:
            self.client.odb_set(self.odb_settings_dir, default_settings,
                                update_structure_only=True)
        if self.client.odb_exists(self.odb_settings_dir):
            self.settings = self.client.odb_get(self.odb_settings_dir)
            self.client.odb_watch(self.odb_settings_dir, self._odb_settings_callback, True)
        else:
            self.settings = None

        self._update_statistics_in_odb()
        if not self.client.odb_exists(self.odb_variables_dir):
            self.client.odb_set(self.odb_variables_dir, {})
        self._inited = True

    def poll_func(self):
        raise NotImplementedError("You should implement poll_func in your polled equipment class!")

    def readout_func(self):
        raise NotImplementedError("You should implement readout_func in your equipment class!")

    def settings_changed_func(self):
        pass

    def detailed_settings_changed_func(self, path, idx, new_value):
        pass

    def set_status(self, status_text, status_color="greenLight"):
        self.client.odb_set(f"{self.odb_common_dir}/Status",
                            ctypes.create_string_buffer(status_text.encode("utf-8"), 256))
        self.client.odb_set(f"{self.odb_common_dir}/Status color",
                            ctypes.create_string_buffer(status_color.encode("utf-8"), 32))

    def _is_initialized(self):
        return hasattr(self, "_inited")

    def _is_history_logging_enabled(self):
        return (self.common["Read on"] & midas.RO_ODB) or self.common["Log history"]

    def _is_active_for_state(self, run_state):
        read_on = self.common["Read on"]
        return bool(
            (run_state == midas.STATE_RUNNING and read_on & midas.RO_RUNNING)
            or (run_state == midas.STATE_STOPPED and read_on & midas.RO_STOPPED)
            or (run_state == midas.STATE_PAUSED and read_on & midas.RO_PAUSED)
        )

    def _is_active_for_transition(self, transition):
        read_on = self.common["Read on"]
        return bool(
            (transition == midas.TR_START and read_on & midas.RO_BOR)
            or (transition == midas.TR_STOP and read_on & midas.RO_EOR)
            or (transition == midas.TR_PAUSE and read_on & midas.RO_PAUSE)
            or (transition == midas.TR_RESUME and read_on & midas.RO_RESUME)
        )

    def _stats_add_event_of_size(self, size_bytes):
        self.stats["events"] += 1
        self.stats["kbytes"] += size_bytes / 1024

    def _reset_stats(self):
        self.stats.update(last_time=None, kbytes=0, events=0, last_events=0)
        self._update_statistics_in_odb()

    def _update_statistics_in_odb(self):
        now = _now(self.client)
        secs = 1 if self.stats["last_time"] is None else (
            (now - self.stats["last_time"]).total_seconds()
        )
        secs = secs or 1e-9
        ev_per_sec = (self.stats["events"] - self.stats["last_events"]) / secs
        kb_per_sec = self.stats["kbytes"] / secs
        self.client.odb_set(
            self.odb_stats_dir,
            collections.OrderedDict(
                [
                    ("Events sent", ctypes.c_double(self.stats["events"])),
                    ("Events per sec.", ctypes.c_double(ev_per_sec)),
                    ("kBytes per sec.", ctypes.c_double(kb_per_sec)),
                ]
            ),
        )
        self.stats["last_events"] = self.stats["events"]
        self.stats["last_time"] = now
        self.stats["kbytes"] = 0

    def _odb_common_callback(self, client, path, new_value):
        if new_value["Buffer"] != self.common["Buffer"]:
            self.client.msg("You must restart the frontend to update which buffer is written to")
        if new_value["Num subevents"] != 0:
            self.client.msg("Python frontends don't support subevents", True)
        if new_value["Format"] != "MIDAS":
            self.client.msg("Python frontends only support 'MIDAS' format events", True)
            self.client.odb_set(self.odb_common_dir + "/Format", "MIDAS")
        for flag, what in (
            (midas.EQ_MANUAL_TRIG, "manually-triggered"), (midas.EQ_FRAGMENTED, "fragmented"),
            (midas.EQ_INTERRUPT, "interrupt"), (midas.EQ_MULTITHREAD, "multithreaded"),
            (midas.EQ_SLOW, "slow control"), (midas.EQ_USER, "user"),
        ):
            if new_value["Type"] & flag:
                self.client.msg(f"Python frontends don't support {what} events", True)
                self.client.odb_set(self.odb_common_dir + "/Type", new_value["Type"] & ~flag)
        self.common = new_value

    def _odb_settings_callback(self, client, path, idx, new_value):
        self.settings = self.client.odb_get(self.odb_settings_dir)
        self.settings_changed_func()
        self.detailed_settings_changed_func(path, idx, new_value)

    def _is_event_limit_reached(self):
        if self.common["Event limit"] <= 0 or self.stats is None:
            return False
        return self.stats["events"] >= self.common["Event limit"]

    def _is_time_to_write_vars_to_odb(self):
        if not self._is_history_logging_enabled():
            return False
        if self.last_odb_var_write_time is None:
            return True
        return _now(self.client) - self.last_odb_var_write_time > self.odb_var_write_period

    def _is_time_to_work(self):
        if self.last_get_event_time is None:
            return True
        threshold = datetime.timedelta(milliseconds=self.common["Period"])
        return _now(self.client) - self.last_get_event_time > threshold

    def _is_periodic(self):
        return self.common["Type"] & midas.EQ_PERIODIC

    def _is_polled(self):
        return self.common["Type"] & midas.EQ_POLLED

    def _get_event(self):
        self.last_get_event_time = _now(self.client)
        event = self.readout_func()
        if event is None:
            return None
        if not isinstance(event, midas.event.Event):
            raise TypeError("Expected a midas.event.Event")
        if event.header.event_id is None:
            event.header.event_id = self.common["Event ID"]
        if event.header.trigger_mask is None:
            event.header.trigger_mask = self.common["Trigger mask"]
        if event.header.serial_number is None:
            event.header.serial_number = self.stats["events"]
        if event.header.timestamp is None:
            event.header.timestamp = int(time.time())
        return event


class FrontendBase:
    """A frontend (one MIDAS client) running several equipment."""

    def __init__(self, frontend_name):
        if not args_parsed:
            parse_args()
        if self._is_initialized():
            return
        self.client = midas.client.MidasClient(frontend_name, cmd_line_hostname,
                                               cmd_line_exptname, daemon_flag)
        self.equipment = {}
        self.buffers = {}
        self.last_stats_update = None
        self.stats_update_period = datetime.timedelta(milliseconds=3000)
        self.client.register_transition_callback(midas.TR_START, 500, self._tr_start_callback)
        self.client.register_transition_callback(midas.TR_STOP, 500, self._tr_stop_callback)
        self.client.register_transition_callback(midas.TR_PAUSE, 500, self._tr_pause_callback)
        self.client.register_transition_callback(midas.TR_RESUME, 500, self._tr_resume_callback)
        self.run_state = self.client.odb_get("/Runinfo/State")
        self.client.odb_watch("/Runinfo/State", self._run_state_callback)
        self._inited = True

    def begin_of_run(self, run_number):
        return midas.status_codes["SUCCESS"]

    def end_of_run(self, run_number):
        return midas.status_codes["SUCCESS"]

    def pause_run(self, run_number):
        return midas.status_codes["SUCCESS"]

    def resume_run(self, run_number):
        return midas.status_codes["SUCCESS"]

    def add_equipment(self, equip):
        if not isinstance(equip, EquipmentBase):
            raise TypeError("Equipment must inherit from EquipmentBase")
        if not equip._is_initialized():
            raise RuntimeError("You must call init_equip() for all Equipment")
        self.equipment[equip.name] = equip

    def set_equipment_status(self, equipment_name, status_text, status_color="greenLight"):
        self.equipment[equipment_name].set_status(status_text, status_color)

    def set_all_equipment_status(self, status_text, status_color="greenLight"):
        for equip in self.equipment.values():
            equip.set_status(status_text, status_color)

    def run(self):
        if not self._is_initialized():
            raise RuntimeError("You must call __init__ for this frontend")
        self._open_buffers()
        print("Running...")
        while True:
            should_stop_run = False
            loop_start = _now(self.client)
            for equip in self._enabled_equipment():
                if equip._is_active_for_state(self.run_state):
                    if equip._is_polled() and equip.poll_func():
                        self._get_and_send_event(equip)
                    if equip._is_periodic() and equip._is_time_to_work():
                        self._get_and_send_event(equip)
                if equip._is_event_limit_reached():
                    should_stop_run = True
            stats_time = _now(self.client)
            if (self.last_stats_update is None
                    or stats_time - self.last_stats_update > self.stats_update_period):
                self.last_stats_update = stats_time
                for equip in self.equipment.values():
                    equip._update_statistics_in_odb()
            run_time_ms = (_now(self.client) - loop_start).total_seconds() * 1000
            if should_stop_run:
                self.client.stop_run()
            shortest_period = min(e.common["Period"] for e in self.equipment.values())
            yield_time = min(10, max(1, int(shortest_period / 5 - run_time_ms)))
            self.client.communicate(yield_time)

    def _is_initialized(self):
        return hasattr(self, "_inited")

    def _enabled_equipment(self):
        return [e for e in self.equipment.values() if e.common["Enabled"]]

    def _get_and_send_transition_events(self, transition):
        for equip in self._enabled_equipment():
            if equip._is_active_for_transition(transition):
                self._get_and_send_event(equip)

    def _get_and_send_event(self, equip):
        event = equip._get_event()
        if not event:
            return
        buffer_name = equip.common["Buffer"]
        if buffer_name:
            self.client.send_event(self._get_buffer_handle(buffer_name), event)
        equip._stats_add_event_of_size(event.header.event_data_size_bytes)
        if equip._is_time_to_write_vars_to_odb():
            equip.last_odb_var_write_time = _now(self.client)
            for bank in event.banks.values():
                c_data = self.client._midas_type_to_ctype(bank.type, initial_value=bank.data)
                self.client.odb_set(equip.odb_variables_dir + "/" + bank.name, c_data,
                                    explicit_new_midas_type=bank.type)

    def _open_buffers(self):
        for name in {e.common["Buffer"] for e in self.equipment.values()}:
            if name and name not in self.buffers:
                self.buffers[name] = self.client.open_event_buffer(name)

    def _run_state_callback(self, client, path, new_value):
        self.run_state = new_value

    def _get_buffer_handle(self, buffer_name):
        return self.buffers.get(buffer_name, None)

    def _tr_start_callback(self, client, run_number):
        for equip in self.equipment.values():
            equip._reset_stats()
        retval = self.begin_of_run(run_number)
        if retval == midas.status_codes["SUCCESS"]:
            self._get_and_send_transition_events(midas.TR_START)
        return retval

    def _tr_stop_callback(self, client, run_number):
        retval = self.end_of_run(run_number)
        if retval == midas.status_codes["SUCCESS"]:
            self._get_and_send_transition_events(midas.TR_STOP)
        return retval

    def _tr_pause_callback(self, client, run_number):
        retval = self.pause_run(run_number)
        if retval == midas.status_codes["SUCCESS"]:
            self._get_and_send_transition_events(midas.TR_PAUSE)
        return retval

    def _tr_resume_callback(self, client, run_number):
        retval = self.resume_run(run_number)
        if retval == midas.status_codes["SUCCESS"]:
            self._get_and_send_transition_events(midas.TR_RESUME)
        return retval
