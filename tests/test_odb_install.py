"""ODB templates and `cygno-mw odb install|diff|templates`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cygno_mw import odb_install
from cygno_mw.cli import main
from cygno_mw.errors import ConfigError
from cygno_mw.frontends.camera import settings as camera_settings
from cygno_mw.frontends.pmt import settings as pmt_settings
from cygno_mw.frontends.slow_control import settings as slow_control_settings

REPO = Path(__file__).resolve().parent.parent
PROGRAM_TYPES = {  # MIDAS's PROGRAM_INFO record
    "Required": 8, "Watchdog timeout": 7, "Check interval": 6, "Start command": 12,
    "Auto start": 8, "Auto stop": 8, "Auto restart": 8, "Alarm class": 12,
}


def test_templates_are_found_in_the_checkout_and_merged():
    assert odb_install.templates_dir() == REPO / "odb_templates"
    tree = odb_install.load_templates()
    for program in ("Camera Frontend 0", "Slow Control Frontend 0", "PMT Frontend 0"):
        command = tree["Programs"][program]["Start command"]
        assert command.startswith("{cygno_mw} frontend ") and command.endswith(" -i 0 -D")
        assert "-m " not in command  # programs by name, never a module path
    assert tree["Programs"]["Online Analyzer"]["Start command"] == "{cygno_mw} analyzer online -D"
    keys = {k.path: k for k in odb_install.template_keys(tree)}
    command = keys["/Programs/Camera Frontend 0/Start command"]
    assert command.value == f"{odb_install.cygno_mw_command()} frontend camera -i 0 -D"
    assert (command.tid, command.item_size) == (12, 256)
    assert keys["/Programs/Camera Frontend 0/Check interval"].tid == 6
    assert "/Alias/Camera 0" in keys


@pytest.mark.parametrize(("equipment", "module"), [
    ("Camera0", camera_settings), ("SlowControl0", slow_control_settings),
    ("PMT0", pmt_settings)])
def test_equipment_templates_match_the_frontend_defaults(equipment, module):
    """The frontend re-shapes Settings to its defaults (update_structure_only): the template
    must hold exactly those keys, with the same values and JSON types."""
    settings = odb_install.load_templates()["Equipment"][equipment]["Settings"]
    defaults = module.default_settings()
    assert list(settings) == list(defaults)
    for key, value in defaults.items():
        assert settings[key] == value and type(settings[key]) is type(value), key


def test_env_variable_and_argument_choose_the_folder(tmp_path, monkeypatch):
    (tmp_path / "a.json").write_text(json.dumps({"Test": {"x": 1}}))
    monkeypatch.setenv(odb_install.TEMPLATES_ENV, str(tmp_path))
    assert odb_install.load_templates() == {"Test": {"x": 1}}
    monkeypatch.delenv(odb_install.TEMPLATES_ENV)
    assert odb_install.load_templates(tmp_path) == {"Test": {"x": 1}}
    with pytest.raises(ConfigError, match="does not exist"):
        odb_install.templates_dir(tmp_path / "nope")


def test_files_that_disagree_are_an_error_naming_both(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"Programs": {"X": {"Required": True}}}))
    (tmp_path / "b.json").write_text(json.dumps({"Programs": {"X": {"Required": False,
                                                                     "Auto start": False}}}))
    with pytest.raises(ConfigError, match=r"Required: a.json has True, b.json has False"):
        odb_install.load_templates(tmp_path)
    (tmp_path / "b.json").write_text(json.dumps({"Programs": {"X": {"Auto start": False}}}))
    assert odb_install.load_templates(tmp_path)["Programs"]["X"] == {
        "Required": True, "Auto start": False}


def test_templates_subcommand_needs_no_midas(capsys):
    assert main(["odb", "templates"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "{python}" not in json.dumps(printed)
    assert printed["Equipment"]["Camera0"]["Settings"]["Driver"] == "sim"


# ---------------------------------------------------------------- against an ODB

@pytest.fixture()
def client():
    standin = pytest.importorskip("midas.standin", reason="needs the MIDAS stand-in")
    import midas.client

    standin.reset()
    crew = midas.client.MidasClient("crew")
    yield crew
    crew.disconnect()


def test_install_creates_programs_with_midas_types_and_keeps_tuned_values(client, capsys):
    client.odb_set("/Equipment/Camera0/Settings/Exposure", 0.5)
    client.odb_set("/Programs/PMT Frontend 0/Required", False)
    assert main(["odb", "install"]) == 0
    out = capsys.readouterr().out
    assert "kept ~ /Equipment/Camera0/Settings/Exposure: ODB has 0.5" in out
    assert client.odb_get("/Equipment/Camera0/Settings/Exposure") == 0.5
    assert client.odb_get("/Equipment/Camera0/Settings/Driver") == "sim"
    assert client.odb_get("/Programs/PMT Frontend 0/Required") is False
    record = client.odb_get("/Programs/Camera Frontend 0", include_key_metadata=True)
    record = record["Camera Frontend 0"]
    for key, tid in PROGRAM_TYPES.items():
        assert record[f"{key}/key"]["type"] == tid, key
    assert record["Start command/key"]["item_size"] == 256
    assert record["Alarm class/key"]["item_size"] == 32
    assert record["Required"] is True and record["Auto restart"] is True
    assert client.odb_get("/Alias/Camera 0") == "?cmd=odb&odb_path=/Equipment/Camera0"


def test_cygno_mw_command_is_the_installed_console_script():
    beside = Path(sys.executable).parent / "cygno-mw"
    if not beside.is_file():
        pytest.skip("no cygno-mw console script beside this interpreter")
    assert odb_install.cygno_mw_command() == str(beside)
    result = subprocess.run([odb_install.cygno_mw_command(), "frontend", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "camera" in result.stdout


@pytest.mark.parametrize(("old", "new"), [
    ("/x/.venv/bin/python -m cygno_mw.frontends.camera_frontend -i 0 -D",
     "frontend camera -i 0 -D"),
    ("python3 -m cygno_mw.frontends.slow_control_frontend -i 1", "frontend slow-control -i 1"),
    ("/opt/py -m cygno_mw.frontends.pmt_frontend -i 0 -D", "frontend pmt -i 0 -D"),
    ('/x/python -m cygno_mw.analyzers.online_analyzer --name "Online Analyzer 2" -D',
     'analyzer online --name "Online Analyzer 2" -D'),
])
def test_old_module_paths_of_ours_become_program_commands(old, new):
    assert odb_install.modern_start_command(old) == f"{odb_install.cygno_mw_command()} {new}"


@pytest.mark.parametrize("command", [
    "/home/shift/my_camera.sh -i 0",
    "python3 -m my_lab.cygno_mw.frontends.camera_frontend",
    "python -m cygno_mw.frontends.camera_frontend_v2 -i 0",
    "",
])
def test_start_commands_someone_wrote_are_never_touched(command):
    assert odb_install.modern_start_command(command) is None


def test_install_updates_old_start_commands_and_says_so(client, capsys):
    old = f"{sys.executable} -m cygno_mw.frontends.camera_frontend -i 0 -D"
    client.odb_set("/Programs/Camera Frontend 0/Start command", old)
    client.odb_set("/Programs/Online Analyzer 2/Start command",
                   f'{sys.executable} -m cygno_mw.analyzers.online_analyzer --name "Online '
                   'Analyzer 2" -D')
    client.odb_set("/Programs/Gas Logger/Start command", "/home/shift/gaslog.sh")
    assert main(["odb", "install"]) == 0
    out = capsys.readouterr().out
    assert "updated /Programs/Camera Frontend 0/Start command" in out
    assert "an old module path" in out
    command = odb_install.cygno_mw_command()
    assert client.odb_get("/Programs/Camera Frontend 0/Start command") == \
        f"{command} frontend camera -i 0 -D"
    assert client.odb_get("/Programs/Online Analyzer 2/Start command") == \
        f'{command} analyzer online --name "Online Analyzer 2" -D'
    assert client.odb_get("/Programs/Gas Logger/Start command") == "/home/shift/gaslog.sh"


def test_dry_run_writes_nothing_and_diff_reports(client, capsys):
    assert main(["odb", "install", "--dry-run"]) == 0
    assert "would write + /Programs/Camera Frontend 0/Start command" in capsys.readouterr().out
    assert not client.odb_exists("/Programs/Camera Frontend 0")
    assert main(["odb", "diff"]) == 1
    assert "+ /Equipment/SlowControl0/Settings/Names" in capsys.readouterr().out
    assert main(["odb", "install", "--force", "/Experiment"]) == 0
    assert client.odb_get("/Experiment/MAX_EVENT_SIZE") == 32 * 1024 * 1024
    capsys.readouterr()
    assert main(["odb", "diff"]) == 0
    assert capsys.readouterr().out == ""
    client.odb_set("/Equipment/PMT0/Settings/Boards", "V1742")
    assert main(["odb", "diff"]) == 1
    assert capsys.readouterr().out.strip() == (
        '~ /Equipment/PMT0/Settings/Boards: ODB has "V1742", template has "both"')


def test_install_raises_event_sizes_too_small_for_images_but_keeps_larger_ones(client, capsys):
    client.odb_set("/Experiment/MAX_EVENT_SIZE", 4 * 1024 * 1024)  # a fresh MIDAS's value
    client.odb_set("/Experiment/Buffer sizes/SYSTEM", 2 * 1024 ** 3 - 1)  # LIME's: larger
    assert main(["odb", "diff"]) == 1
    assert "^ /Experiment/MAX_EVENT_SIZE: ODB has 4194304" in capsys.readouterr().out
    assert main(["odb", "install"]) == 0
    assert client.odb_get("/Experiment/MAX_EVENT_SIZE") == 32 * 1024 * 1024
    assert client.odb_get("/Experiment/Buffer sizes/SYSTEM") == 2 * 1024 ** 3 - 1
    capsys.readouterr()
    assert main(["odb", "diff"]) == 0


def test_diff_errors_are_status_2_not_differences(client, tmp_path, capsys):
    assert main(["odb", "diff", "--templates", str(tmp_path / "nope")]) == 2
    assert "cygno-mw odb diff: error:" in capsys.readouterr().err


def test_frontends_started_after_install_change_no_setting(client):
    from cygno_mw.frontends.camera.equipment import CameraFrontend
    from cygno_mw.frontends.pmt.equipment import PmtFrontend
    from cygno_mw.frontends.slow_control.equipment import SlowControlFrontend

    assert main(["odb", "install"]) == 0
    client.odb_set("/Equipment/Camera0/Settings/Sim pool", 1)
    before = client.odb_get("/Equipment")
    for frontend in (CameraFrontend, SlowControlFrontend, PmtFrontend):
        frontend(0).close()
    after = client.odb_get("/Equipment")
    for equipment in ("Camera0", "SlowControl0", "PMT0"):
        assert after[equipment]["Settings"] == before[equipment]["Settings"]


def test_install_without_midas_says_how_to_get_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # a machine without MIDAS's package, even where it is installed: `import midas` fails
    code = ("import sys; sys.modules['midas'] = None; from cygno_mw.cli import main; "
            "sys.exit(main(['odb', 'diff']))")
    result = subprocess.run([sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2  # diff: 1 means "differences found", trouble is 2
    assert "$MIDASSYS/python" in result.stderr and "Traceback" not in result.stderr


def test_install_registers_the_custom_page_with_the_files_of_this_installation(client, capsys):
    """mhttpd serves `/Custom` keys' absolute files: they must name our page files wherever
    the package is; a key left by an older installation elsewhere is updated."""
    page = REPO / "odb_templates" / "custom"
    client.odb_set("/Custom/cygno_online.js!", "/old/venv/odb_templates/custom/cygno_online.js")
    client.odb_set("/Custom/Other page", "/somewhere/custom/cygno_online.html")  # not ours
    assert main(["odb", "install"]) == 0
    assert client.odb_get("/Custom/CYGNO online") == str(page / "cygno_online.html")
    assert client.odb_get("/Custom/cygno_online.js!") == str(page / "cygno_online.js")
    assert client.odb_get("/Custom/cygno_online.css!") == str(page / "cygno_online.css")
    assert client.odb_get("/Custom/Other page") == "/somewhere/custom/cygno_online.html"
    for name in ("cygno_online.html", "cygno_online.js", "cygno_online.css"):
        assert (page / name).is_file()
    capsys.readouterr()
    assert main(["odb", "diff"]) == 0
