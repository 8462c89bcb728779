"""Camera frontend scenarios on the MIDAS stand-in: begin-of-run, images, live tuning, bad
settings, a flaky device, end-of-run; events decoded with our own MIDAS format code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas  # noqa: E402
import midas.client  # noqa: E402

from cygno_mw.frontends.camera import drivers as camera_drivers  # noqa: E402
from cygno_mw.frontends.camera.drivers import CameraDriver, CameraStatus  # noqa: E402
from cygno_mw.frontends.camera.equipment import CameraFrontend  # noqa: E402
from cygno_mw.midasfile.event import decode_event  # noqa: E402

SETTINGS = "/Equipment/Camera0/Settings"
COMMON = "/Equipment/Camera0/Common"
VARIABLES = "/Equipment/Camera0/Variables"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def client():
    """A fresh stand-in experiment sized for images, and a client playing the shift crew."""
    standin.reset()
    crew = midas.client.MidasClient("crew")
    crew.odb_set("/Experiment/MAX_EVENT_SIZE", 32 * 1024 * 1024)
    crew.odb_set("/Experiment/Buffer sizes/SYSTEM", 256 * 1024 * 1024)
    yield crew
    crew.disconnect()


def preset(client, **settings) -> None:
    """Settings as a previous run (or `cygno-mw odb install`) left them in the ODB."""
    client.odb_set(SETTINGS, {k.replace("_", " "): v for k, v in settings.items()},
                   remove_unspecified_keys=False)


def small_sim(client, **extra) -> None:
    preset(client, **{"Frame_rate": 0.0, "Sim_pool": 2, "ROI_width": 512, "ROI_height": 256,
                      "ROI_x0": 64, "ROI_y0": 128, **extra})


def receive_all(client, handle) -> list:
    events = []
    while (event := client.receive_event(handle)) is not None:
        events.append(event)
    return events


def decoded(event) -> object:
    """Our own decoder on the bytes MIDAS carried."""
    return decode_event(bytes(event.pack()))


def test_run_sends_cam0_images_decoded_by_our_format_code(client):
    small_sim(client)
    fe = CameraFrontend(0)
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 12)
    client.stop_run()

    events = receive_all(client, handle)
    # the run state reaches the frontend at its first communicate(): one pass without readout
    assert len(events) == 11
    driver = fe.camera.driver
    for serial, event in enumerate(events):
        ours = decoded(event)
        assert ours.event_id == 10 and ours.serial_number == serial
        assert list(ours.banks) == ["CAM0"]
        image = ours.bank("CAM0").data.reshape(256, 512)
        expected = driver.pool[serial % 2][128:384, 64:576]
        np.testing.assert_array_equal(image, expected)
    variables = client.odb_get(VARIABLES)
    assert variables["Frames"] == 11 and variables["Drops"] == 0
    assert variables["Sensor temperature"] == pytest.approx(-8.0)
    assert client.odb_get(COMMON + "/Status color") == "greenLight"
    assert any("11 images sent, 0 dropped" in m.text for m in standin.messages())


def test_full_frame_event_is_the_image_bytes(client):
    preset(client, Frame_rate=0.0, Sim_pool=1)
    fe = CameraFrontend(0)
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 3)
    client.stop_run()
    events = receive_all(client, handle)
    assert len(events) == 2
    bank = decoded(events[0]).bank("CAM0")
    assert bank.data.dtype == np.uint16 and bank.data.size == 2304 * 2304
    np.testing.assert_array_equal(bank.data.reshape(2304, 2304), fe.camera.driver.pool[0])
    assert events[0].header.event_data_size_bytes == 2304 * 2304 * 2 + 8 + 12


def test_begin_of_run_refused_when_images_exceed_max_event_size(client):
    client.odb_set("/Experiment/MAX_EVENT_SIZE", 4 * 1024 * 1024)
    preset(client, Frame_rate=0.0, Sim_pool=1)
    CameraFrontend(0)
    with pytest.raises(midas.TransitionFailedError):
        client.start_run()
    assert client.odb_get("/Runinfo/State") == midas.STATE_STOPPED
    assert any("MAX_EVENT_SIZE" in m for m in standin.error_messages())


@pytest.mark.parametrize(
    ("key", "bad", "why"),
    [
        ("Exposure", -0.5, "must be above 0"),
        ("ROI x0", 2000, "outside the sensor"),
        ("ROI width", 4000, "maximum"),
        ("ROI y0", 6, "multiple of 4"),
        ("Binning", 3, "not one of 1, 2, 4"),
        ("Driver", "webcam", "not one of sim, replay, dcam"),
        ("Trigger mode", "sometimes", "not one of"),
        ("Sim mix", "dragons=3", "unknown signal kind"),
        ("Replay file", "/nonexistent.mid", None),  # fine while the driver is not replay
    ],
)
def test_bad_setting_is_rejected_and_previous_value_restored(client, key, bad, why):
    small_sim(client)
    fe = CameraFrontend(0)
    before = client.odb_get(f"{SETTINGS}/{key}")
    standin.set_as_user(f"{SETTINGS}/{key}", bad)
    standin.run_frontend(fe, 2)
    if why is None:
        assert client.odb_get(f"{SETTINGS}/{key}") == bad
        return
    assert client.odb_get(f"{SETTINGS}/{key}") == before
    assert fe.camera.config[key] == before
    errors = standin.error_messages()
    assert any(key in m and why in m for m in errors), errors


def test_replay_driver_needs_an_existing_file(client):
    small_sim(client)
    fe = CameraFrontend(0)
    standin.set_as_user(f"{SETTINGS}/Driver", "replay")
    standin.run_frontend(fe, 2)
    assert client.odb_get(f"{SETTINGS}/Driver") == "sim"
    assert any("Replay file" in m for m in standin.error_messages())


def test_live_tuning_mid_run_takes_effect_at_once(client):
    small_sim(client)
    fe = CameraFrontend(0)
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 3)
    standin.set_as_user(f"{SETTINGS}/ROI width", 128)
    standin.set_as_user(f"{SETTINGS}/Binning", 2)
    standin.set_as_user(f"{SETTINGS}/Exposure", 0.5)
    standin.run_frontend(fe, 3)
    client.stop_run()
    sizes = [decoded(e).bank("CAM0").data.size for e in receive_all(client, handle)]
    assert sizes[:3] == [512 * 256] * 3
    assert sizes[-1] == (128 // 2) * (256 // 2)
    assert fe.camera.driver.settings["Exposure"] == 0.5
    infos = [m.text for m in standin.messages() if not m.is_error]
    assert any("applied" in m and "Binning = 2" in m for m in infos)


def test_binning_sums_pixels(client):
    small_sim(client, Binning=2)
    fe = CameraFrontend(0)
    frame = fe.camera.driver.read_frame()
    full = fe.camera.driver.pool[0][128:384, 64:576].astype(np.uint32)
    expected = np.minimum(full.reshape(128, 2, 256, 2).sum(axis=(1, 3)), 65535)
    np.testing.assert_array_equal(frame, expected.astype(np.uint16))


class FlakyCamera(CameraDriver):
    """A camera whose cable can be pulled: `present` False makes every call fail."""

    present = True
    opened = 0

    def open(self) -> None:
        if not FlakyCamera.present:
            raise OSError("camera not found on the bus")
        FlakyCamera.opened += 1
        self.frames = 0

    def start(self) -> None:
        self.frames = 0

    def frame_ready(self) -> bool:
        if not FlakyCamera.present:
            raise OSError("camera stopped answering")
        return True

    def read_frame(self) -> np.ndarray:
        self.frames += 1
        return np.full((8, 8), self.frames, dtype=np.uint16)

    def status(self) -> CameraStatus:
        return CameraStatus(-10.0, self.frames, 0)


@pytest.fixture()
def flaky_driver():
    FlakyCamera.present = True
    FlakyCamera.opened = 0
    camera_drivers.register_camera_driver("flaky", FlakyCamera)
    yield FlakyCamera
    camera_drivers.unregister_camera_driver("flaky")


def test_device_lost_mid_run_is_reported_and_recovered(client, flaky_driver):
    preset(client, Driver="flaky", Retry_period=0.0)
    fe = CameraFrontend(0)
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 4)
    assert len(receive_all(client, handle)) == 3

    flaky_driver.present = False
    standin.run_frontend(fe, 5)
    assert receive_all(client, handle) == []
    assert client.odb_get(COMMON + "/Status color") == "redLight"
    errors = standin.error_messages()
    assert sum("camera stopped answering" in m for m in errors) == 1  # reported once
    assert "Camera0 camera" in client.get_triggered_alarms()

    flaky_driver.present = True
    standin.run_frontend(fe, 4)
    assert len(receive_all(client, handle)) >= 2
    assert client.odb_get(COMMON + "/Status color") == "greenLight"
    assert client.get_triggered_alarms() == {}
    assert any("camera is back" in m.text for m in standin.messages())
    client.stop_run()
    assert client.odb_get("/Runinfo/State") == midas.STATE_STOPPED


def test_device_absent_at_begin_of_run_refuses_the_run(client, flaky_driver):
    flaky_driver.present = False
    preset(client, Driver="flaky")
    fe = CameraFrontend(0)
    assert fe.camera.driver is None
    assert client.odb_get(COMMON + "/Status color") == "redLight"
    with pytest.raises(midas.TransitionFailedError) as failure:
        client.start_run()
    assert "camera" in failure.value.message
    flaky_driver.present = True
    client.start_run()
    assert fe.camera.driver is not None
    client.stop_run()


def test_dcam_without_pylablib_is_refused_with_a_clear_message(client):
    try:
        import pylablib  # noqa: F401
        pytest.skip("pylablib is installed here")
    except ImportError:
        pass
    small_sim(client)
    fe = CameraFrontend(0)
    standin.set_as_user(f"{SETTINGS}/Driver", "dcam")
    standin.run_frontend(fe, 2)
    assert client.odb_get(f"{SETTINGS}/Driver") == "sim"
    assert fe.camera.driver is not None and fe.camera.driver.name == "sim"
    errors = standin.error_messages()
    assert any("pylablib" in m and "cygno-mw[dcam]" in m for m in errors), errors


def test_replay_driver_serves_the_images_of_a_midas_file(client, tmp_path):
    from cygno_mw.midasfile.writer import MidasWriter

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 4000, (64, 64), dtype=np.uint16) for _ in range(3)]
    path = tmp_path / "run00001.mid"
    with MidasWriter(path, 1, {"Experiment": {"Name": "test"}}) as writer:
        for image in images:
            writer.write(1, {"CAM0": image.reshape(-1)})
    preset(client, Driver="replay", Replay_file=str(path), Frame_rate=0.0)
    fe = CameraFrontend(0)
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 8)
    client.stop_run()
    got = [decoded(e).bank("CAM0").data.reshape(64, 64) for e in receive_all(client, handle)]
    assert len(got) == 7
    for i, image in enumerate(got):
        np.testing.assert_array_equal(image, images[i % 3])


def test_entry_point_stops_cleanly_from_the_programs_page(client, monkeypatch):
    from cygno_mw.cli import main

    small_sim(client)
    monkeypatch.setattr(sys, "argv", ["cygno-mw"])
    import midas.frontend

    monkeypatch.setattr(midas.frontend, "args_parsed", False)
    standin.request_shutdown("Camera Frontend 0", after_communicate_calls=3)
    assert main(["frontend", "camera", "-i", "0"]) == 0
    assert midas.frontend.frontend_index == 0
    names = [c.name for c in standin.experiment().clients]
    assert "Camera Frontend 0" not in names


def test_entry_point_without_midas_says_how_to_install_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    # a machine without MIDAS's package, even where it is installed: `import midas` fails
    code = ("import sys, runpy; sys.modules['midas'] = None; "
            "sys.argv = ['cygno_mw', 'frontend', 'camera', '-i', '0']; "
            "runpy.run_module('cygno_mw', run_name='__main__')")
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 2
    assert "$MIDASSYS/python" in result.stderr
    assert "Traceback" not in result.stderr


class FakeDcamCamera:
    """Just enough of pylablib's DCAMCamera for the dcam driver (pylablib is optional)."""

    def __init__(self, idx: int = 0) -> None:
        self.idx = idx
        self.calls: list[tuple] = []
        self.frames: list[np.ndarray] = []
        FakeDcamCamera.last = self

    def set_trigger_mode(self, mode):
        self.calls.append(("trigger", mode))

    def set_exposure(self, exposure):
        self.calls.append(("exposure", exposure))

    def set_roi(self, *roi):
        self.calls.append(("roi", roi))

    def setup_acquisition(self, mode, nframes):
        self.calls.append(("setup", mode, nframes))

    def start_acquisition(self):
        self.calls.append(("start",))

    def stop_acquisition(self):
        self.calls.append(("stop",))

    def get_new_images_range(self):
        return (0, 0) if self.frames else None

    def read_oldest_image(self):
        return self.frames.pop(0)

    def send_software_trigger(self):
        self.frames.append(np.full((8, 8), 7, dtype=np.uint16))

    def get_value(self, name, error_on_missing=True, default=None):
        return -8.5 if name == "SENSOR TEMPERATURE" else default

    def get_frames_status(self):
        from types import SimpleNamespace

        return SimpleNamespace(acquired=3, unread=0, skipped=1, buffer_size=32)

    def close(self):
        self.calls.append(("close",))


@pytest.fixture()
def fake_pylablib(monkeypatch):
    from types import ModuleType

    dcam = ModuleType("pylablib.devices.DCAM")
    dcam.get_cameras_number = lambda: 1
    dcam.DCAMCamera = FakeDcamCamera
    devices = ModuleType("pylablib.devices")
    devices.DCAM = dcam
    monkeypatch.setitem(sys.modules, "pylablib", ModuleType("pylablib"))
    monkeypatch.setitem(sys.modules, "pylablib.devices", devices)
    monkeypatch.setitem(sys.modules, "pylablib.devices.DCAM", dcam)
    return dcam


def test_dcam_driver_drives_pylablib(client, fake_pylablib):
    preset(client, Driver="dcam", Trigger_mode="software", ROI_x0=8, ROI_y0=16,
           ROI_width=256, ROI_height=128)
    fe = CameraFrontend(0)
    camera = FakeDcamCamera.last
    assert ("roi", (8, 264, 16, 144, 1, 1)) in camera.calls
    assert ("trigger", "software") in camera.calls and ("exposure", 0.3) in camera.calls
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle)
    client.start_run()
    standin.run_frontend(fe, 7)
    standin.set_as_user(f"{SETTINGS}/DCAM index", 1)  # there is one camera only
    standin.run_frontend(fe, 2)
    client.stop_run()
    frames = [decoded(e).bank("CAM0").data for e in receive_all(client, handle)]
    assert len(frames) >= 3 and all((f == 7).all() and f.size == 64 for f in frames)
    assert client.odb_get(f"{VARIABLES}/Sensor temperature") == -8.5
    assert client.odb_get(f"{VARIABLES}/Drops") == 1
    assert client.odb_get(f"{SETTINGS}/DCAM index") == 0
    assert any("no Hamamatsu camera with DCAM index 1" in m for m in standin.error_messages())
    fe.close()
    assert camera.calls[-1] == ("close",)
