"""The MIDAS stand-in behaves like the real package where our programs depend on it."""

from __future__ import annotations

import collections
import ctypes
import struct

import numpy as np
import pytest

standin = pytest.importorskip("midas.standin", reason="tests of the stand-in itself")

import midas  # noqa: E402
import midas.client  # noqa: E402
import midas.event  # noqa: E402
import midas.frontend  # noqa: E402

from cygno_mw.midasfile.event import BANK16, BANK32, BANK32A, Bank, encode_event  # noqa: E402


@pytest.fixture()
def client():
    standin.reset()
    c = midas.client.MidasClient("tester")
    yield c
    c.disconnect()


# ---------------------------------------------------------------- ODB


def test_odb_names_are_case_insensitive_and_keep_their_case(client):
    client.odb_set("/Equipment/Cam/Settings/Exposure", 0.3)
    assert client.odb_get("/equipment/CAM/settings/exposure") == 0.3
    client.odb_set("/EQUIPMENT/cam/Settings/EXPOSURE", 0.5)
    assert list(client.odb_get("/Equipment/Cam/Settings")) == ["Exposure"]
    assert client.odb_exists("/equipment/cam/") and not client.odb_exists("/nothing")
    with pytest.raises(KeyError, match="not found in ODB"):
        client.odb_get("/Equipment/Cam/Settings/Gain")


def test_setting_a_dict_replaces_the_directory_unless_told_otherwise(client):
    client.odb_set("/D", {"a": 1, "b": 2})
    client.odb_set("/D", {"a": 5})
    assert client.odb_get("/D") == {"a": 5}
    client.odb_set("/D", {"c": 3}, remove_unspecified_keys=False)
    assert client.odb_get("/D") == {"a": 5, "c": 3}
    # what EquipmentBase does with default Settings: add/remove keys, keep values
    client.odb_set("/D", {"a": 0, "d": "x"}, update_structure_only=True)
    assert client.odb_get("/D") == {"a": 5, "d": "x"}


def test_values_are_cast_to_the_key_type_as_midas_does(client):
    client.odb_set("/T/int", 3)
    client.odb_set("/T/int", 1.7)
    assert client.odb_get("/T/int") == 1
    with pytest.raises(ValueError):
        client.odb_set("/T/int", "abc")
    client.odb_set("/T/float", 1.0)
    client.odb_set("/T/float", "2.5")
    assert client.odb_get("/T/float") == 2.5
    client.odb_set("/T/text", "hi")
    with pytest.raises(TypeError):
        client.odb_set("/T/text", 5)
    with pytest.raises(TypeError):
        client.odb_set("/T/array", np.arange(3))  # numpy arrays are not list-like for MIDAS
    with pytest.raises(TypeError):
        client.odb_set("/T/i64", np.int64(3))
    client.odb_set("/T/word", ctypes.c_ushort(70))
    client.odb_set("/T/word", 70000)  # wraps like a C unsigned short
    assert client.odb_get("/T/word") == 70000 % 65536
    meta = client.odb_get("/T", include_key_metadata=True)["T"]
    assert [meta[f"{k}/key"]["type"] for k in ("int", "float", "text", "word")] == [
        midas.TID_INT, midas.TID_DOUBLE, midas.TID_STRING, midas.TID_WORD]


def test_arrays_single_elements_and_one_element_arrays(client):
    client.odb_set("/A", [1.0, 2.0, 3.0])
    client.odb_set("/A[1]", 9.0)
    assert client.odb_get("/A") == [1.0, 9.0, 3.0] and client.odb_get("/A[2]") == 3.0
    client.odb_set("/A", [4.0])
    assert client.odb_get("/A") == 4.0  # a one-element array reads back as a scalar
    with pytest.raises(ValueError, match="array length"):
        client.odb_set("/A", [1.0, 2.0], resize_arrays=False)


def test_strings_grow_to_fit_and_are_capped_at_256(client):
    client.odb_set("/S", "ab")
    client.odb_set("/S", "a longer string")
    assert client.odb_get("/S") == "a longer string"
    client.odb_set("/S", "x" * 400)
    assert len(client.odb_get("/S")) == 255
    client.odb_set("/S2", ctypes.create_string_buffer(b"cmd", 256))
    assert client.odb_get("/S2", include_key_metadata=True)["S2/key"]["item_size"] == 256


def test_links_delete_and_rename(client):
    client.odb_set("/Equipment/Cam/Settings/Gain", 2)
    client.odb_link("/Alias/cam", "/Equipment/Cam/Settings")
    assert client.odb_get("/Alias/cam/Gain") == 2
    assert client.odb_get_link_destination("/Alias/cam") == "/Equipment/Cam/Settings"
    client.odb_rename("/Equipment/Cam/Settings/Gain", "Gain2")
    assert client.odb_get("/Alias/cam") == {"Gain2": 2}
    client.odb_delete("/Alias/cam")
    assert client.odb_exists("/Equipment/Cam/Settings/Gain2")
    assert not client.odb_exists("/Alias/cam")


# ---------------------------------------------------------------- watches


def test_watch_callbacks_come_at_communicate_in_both_shapes(client):
    client.odb_set("/W", collections.OrderedDict([("x", 1), ("arr", [1, 2, 3])]))
    whole, changed = [], []
    client.odb_watch("/W", lambda c, p, v: whole.append((p, dict(v))))
    client.odb_watch("/w/arr", lambda c, p, i, v: changed.append((p, i, v)), True)
    client.odb_set("/W/x", 2)
    client.odb_set("/W/arr[1]", 7)
    assert whole == [] and changed == []  # nothing before communicate()
    client.communicate(1)
    assert whole == [("/W", {"x": 2, "arr": [1, 7, 3]})] * 2
    assert changed == [("/W/arr", 1, 7)]
    changed.clear()
    client.odb_set("/W/arr", [4, 5, 6])  # whole-array write: MIDAS passes index -1
    client.communicate(1)
    assert changed == [("/W/arr", -1, 6)]
    client.odb_stop_watching("/W")
    client.odb_set("/W/x", 3)
    client.communicate(1)
    assert len(whole) == 3  # the array write before stop_watching, none after


def test_a_failing_callback_becomes_an_error_message(client):
    client.odb_set("/W", 1)

    def broken(c, p, v):
        raise RuntimeError("boom")

    client.odb_watch("/W", broken)
    client.odb_set("/W", 2)
    client.communicate(1)
    assert standin.error_messages() == ["Exception raised during callback on /W: boom"]


# ---------------------------------------------------------------- messages and alarms


def test_messages_are_logged_like_cm_msg(client):
    client.msg("hello")
    client.msg("bad thing", is_error=True)
    recent = client.get_recent_messages(2)
    assert recent[0].endswith("[tester,ERROR] [test_midas_standin.py:" + recent[0].split(
        "test_midas_standin.py:")[1].split(",")[0] + ",ERROR] bad thing")
    assert recent[1].endswith("[tester,INFO] hello")


def test_internal_alarms(client):
    client.trigger_internal_alarm("Cam lost", "camera gone")
    assert client.get_triggered_alarms() == {"Cam lost": "camera gone"}
    assert client.odb_get("/Alarms/Alarms/Cam lost/Type") == midas.AT_INTERNAL
    client.reset_alarm("Cam lost")
    assert client.get_triggered_alarms() == {}
    with pytest.raises(midas.MidasError):
        client.reset_alarm("never defined")


# ---------------------------------------------------------------- transitions


def test_transitions_call_every_client_in_sequence_order(client):
    other = midas.client.MidasClient("other")
    calls = []
    client.register_transition_callback(midas.TR_START, 600, lambda c, r: calls.append(("t", r)))
    other.register_transition_callback(midas.TR_START, 200, lambda c, r: calls.append(("o", r)))
    client.start_run()
    assert calls == [("o", 1), ("t", 1)]
    assert client.odb_get("/Runinfo/State") == midas.STATE_RUNNING
    with pytest.raises(midas.TransitionFailedError):
        client.start_run()
    client.stop_run()
    client.start_run(run_num=42)
    assert client.odb_get("/Runinfo/Run number") == 42
    client.stop_run()
    other.disconnect()


def test_a_refused_start_aborts_the_clients_that_agreed(client):
    other = midas.client.MidasClient("other")
    aborted = []
    other.register_transition_callback(midas.TR_START, 100, lambda c, r: None)
    other.register_transition_callback(midas.TR_STARTABORT, 100, lambda c, r: aborted.append(r))
    client.register_transition_callback(midas.TR_START, 500,
                                        lambda c, r: (605, "camera not ready"))
    with pytest.raises(midas.TransitionFailedError) as failure:
        client.start_run()
    assert failure.value.code == 605 and failure.value.message == "camera not ready"
    assert aborted == [1]
    assert client.odb_get("/Runinfo/State") == midas.STATE_STOPPED
    assert any("camera not ready" in m for m in standin.error_messages())
    other.disconnect()


# ---------------------------------------------------------------- buffers


def make_event(event_id: int, serial: int, values, trigger_mask: int = 0):
    event = midas.event.Event()
    event.header.event_id = event_id
    event.header.serial_number = serial
    event.header.trigger_mask = trigger_mask
    event.create_bank("DATA", midas.TID_INT, list(values))
    return event


def test_get_all_requests_see_every_event_with_their_filters(client):
    reader = midas.client.MidasClient("reader")
    out_handle = client.open_event_buffer("SYSTEM")
    h_all = reader.open_event_buffer("SYSTEM")
    reader.register_event_request(h_all, event_id=1)
    client.send_event(out_handle, make_event(0, 0, [9]))  # sent before this request
    h2 = client.open_event_buffer("SYSTEM")
    client.register_event_request(h2, trigger_mask=0b10)
    for serial in range(3):
        client.send_event(out_handle, make_event(1, serial, [serial], trigger_mask=0b11))
        client.send_event(out_handle, make_event(2, serial, [serial], trigger_mask=0b01))
    got = []
    while (event := reader.receive_event(h_all)) is not None:
        got.append((event.header.event_id, event.banks["DATA"].data))
    assert got == [(1, (0,)), (1, (1,)), (1, (2,))]
    masked = []
    while (event := client.receive_event(h2, use_numpy=True)) is not None:
        masked.append(event.header.event_id)
        assert isinstance(event.banks["DATA"].data, np.ndarray)
    assert masked == [1, 1, 1]
    reader.disconnect()


def test_nonblocking_readers_miss_events_and_get_all_readers_block(client):
    client.odb_set("/Experiment/Buffer sizes/SMALL", ctypes.c_uint32(1000))
    out = client.open_event_buffer("SMALL")
    h = client.open_event_buffer("SMALL")
    client.register_event_request(h, sampling_type=midas.GET_NONBLOCKING)
    for serial in range(20):
        client.send_event(out, make_event(1, serial, range(20)))
    serials = []
    while (event := client.receive_event(h)) is not None:
        serials.append(event.header.serial_number)
    assert serials and serials[0] > 0 and serials == sorted(serials) and serials[-1] == 19
    client.register_event_request(h, sampling_type=midas.GET_ALL)
    with pytest.raises(RuntimeError, match="would block"):
        for serial in range(20):
            client.send_event(out, make_event(1, serial, range(20)))


def test_events_larger_than_max_event_size_are_truncated_for_readers(client):
    client.odb_set("/Experiment/MAX_EVENT_SIZE", 200)
    out = client.open_event_buffer("SYSTEM", buf_size=100000)
    h = client.open_event_buffer("SYSTEM", buf_size=100000)
    client.register_event_request(h)
    client.send_event(out, make_event(1, 0, range(100)))
    with pytest.raises(midas.MidasError) as error:
        client.receive_event(h)
    assert error.value.code == midas.status_codes["BM_TRUNCATED"]


def test_send_event_checks_the_packed_size(client):
    class Lying(midas.event.Event):
        def pack(self, buf=None, buf_offset=0):
            return bytes(super().pack()) + b"\0" * 8

    event = Lying()
    event.header.event_id, event.header.serial_number = 1, 0
    event.create_bank("DATA", midas.TID_INT, [1])
    with pytest.raises(midas.MidasError) as error:
        client.send_event(client.open_event_buffer("SYSTEM"), event)
    assert error.value.code == 220  # BM_INVALID_SIZE


# ---------------------------------------------------------------- event layout


@pytest.mark.parametrize(("bank32", "align64", "ours"),
                         [(False, False, BANK16), (True, False, BANK32), (True, True, BANK32A)])
def test_event_pack_is_the_midas_layout(bank32, align64, ours):
    event = midas.event.Event(bank32=bank32, align64=align64)
    event.header.event_id, event.header.serial_number, event.header.timestamp = 7, 3, 1000
    event.create_bank("WORD", midas.TID_WORD, [1, 2, 3])
    event.create_bank("FLT0", midas.TID_FLOAT, (1.5, -2.0))
    event.create_bank("BOOL", midas.TID_BOOL, np.array([True, False]))
    event.create_bank("TEXT", midas.TID_CHAR, b"hello")
    packed = bytes(event.pack())
    expected = encode_event(7, [Bank("WORD", midas.TID_WORD, np.array([1, 2, 3], np.uint16)),
                                Bank("FLT0", midas.TID_FLOAT, np.array([1.5, -2.0], np.float32)),
                                Bank("BOOL", midas.TID_BOOL, np.array([1, 0], np.uint32)),
                                Bank("TEXT", midas.TID_CHAR, np.frombuffer(b"hello", np.uint8))],
                            serial_number=3, timestamp=1000, bank_format=ours)
    assert packed == expected
    back = midas.event.Event()
    back.unpack(packed)
    assert back.banks["WORD"].data == (1, 2, 3) and back.banks["BOOL"].data == (True, False)
    assert back.banks["TEXT"].data == tuple(b"hello")  # CHAR banks unpack as ints in MIDAS
    assert struct.unpack_from("<HHIII", packed) == (7, 0, 3, 1000, len(packed) - 16)


# ---------------------------------------------------------------- frontend framework


class Periodic(midas.frontend.EquipmentBase):
    def __init__(self, client, numpy_bank=False):
        common = midas.frontend.InitialEquipmentCommon()
        common.equip_type = midas.EQ_PERIODIC
        common.event_id = 5
        common.buffer_name = "SYSTEM"
        common.period_ms = 1000
        common.read_when = midas.RO_ALWAYS
        common.log_history = 1
        self.numpy_bank = numpy_bank
        self.changes = []
        super().__init__(client, "Periodic", common, {"Gain": 2.0, "Names": ["a", "b"]})

    def readout_func(self):
        event = midas.event.Event()
        data = np.array([1.0, 2.0], np.float32) if self.numpy_bank else [1.0, 2.0]
        event.create_bank("VALS", midas.TID_FLOAT, data)
        return event

    def settings_changed_func(self):
        self.changes.append(("any", self.settings["Gain"]))

    def detailed_settings_changed_func(self, path, idx, new_value):
        self.changes.append((path, idx, new_value))


class Fe(midas.frontend.FrontendBase):
    def __init__(self, numpy_bank=False):
        super().__init__("fe")
        self.eq = Periodic(self.client, numpy_bank)
        self.add_equipment(self.eq)


def test_equipment_layout_periodic_readout_and_history_copy(client):
    fe = Fe()
    common = client.odb_get("/Equipment/Periodic/Common", include_key_metadata=True)["Common"]
    assert common["Event ID/key"]["type"] == midas.TID_WORD
    assert common["Buffer/key"]["item_size"] == 32 and common["Status"] == "fe@" + \
        common["Frontend host"]
    assert common["Write cache size"] == 100000
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    standin.run_frontend(fe, 1000)  # 10 s of virtual time, period 1 s
    count = 0
    while client.receive_event(handle) is not None:
        count += 1
    assert count == 10
    assert client.odb_get("/Equipment/Periodic/Variables/VALS") == [1.0, 2.0]
    assert client.odb_get("/Equipment/Periodic/Statistics/Events sent") >= 8


def test_history_copy_of_a_numpy_bank_fails_as_in_midas(client):
    fe = Fe(numpy_bank=True)
    with pytest.raises(TypeError):
        standin.run_frontend(fe, 2)


def test_settings_mirror_and_both_change_hooks(client):
    fe = Fe()
    standin.set_as_user("/Equipment/Periodic/Settings/Gain", 3.5)
    standin.set_as_user("/Equipment/Periodic/Settings/Names[1]", "z")
    standin.run_frontend(fe, 1)
    assert fe.eq.settings == {"Gain": 3.5, "Names": ["a", "z"]}
    assert fe.eq.changes == [("any", 3.5), ("/Equipment/Periodic/Settings/Gain", None, 3.5),
                             ("any", 3.5), ("/Equipment/Periodic/Settings/Names", 1, "z")]


def test_parse_args_and_stop_from_the_programs_page(client, monkeypatch):
    monkeypatch.setattr("sys.argv", ["fe", "-i", "3", "-e", "expt", "-D"])
    midas.frontend.parse_args()
    assert (midas.frontend.frontend_index, midas.frontend.cmd_line_exptname,
            midas.frontend.daemon_flag) == (3, "expt", 0)
    fe = Fe()
    standin.request_shutdown("fe", after_communicate_calls=2)
    with pytest.raises(SystemExit) as stop:
        fe.run()
    assert stop.value.code == 0
    assert "fe" not in [c.name for c in standin.experiment().clients]
