"""ODB dumps: mlogger's JSON (with `/key` metadata), XML, ASCII; lookups; writing JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cygno_mw.midasfile import tid
from cygno_mw.midasfile.errors import MidasFormatError, OdbKeyError
from cygno_mw.midasfile.odbdump import dump_odb_json, odb_get, parse_odb_dump, read_odb_dump

# The shape db_copy_json_save gives (mlogger's JSON dump): values preceded by "name/key".
MLOGGER_JSON = """{
  "Runinfo" : {
    "State/key" : { "type" : 7, "access_mode" : 7, "last_written" : 1650000000 },
    "State" : 3,
    "Run number/key" : { "type" : 7, "access_mode" : 7, "last_written" : 1650000000 },
    "Run number" : 42901,
    "Start time/key" : { "type" : 12, "item_size" : 32, "access_mode" : 7, "last_written" : 0 },
    "Start time" : "Mon Apr 25 10:00:00 2022"
  },
  "Equipment" : {
    "Trigger" : {
      "Common" : {
        "Event ID/key" : { "type" : 4, "access_mode" : 7, "last_written" : 0 },
        "Event ID" : "0x0001",
        "Trigger mask/key" : { "type" : 5, "access_mode" : 7, "last_written" : 0 },
        "Trigger mask" : -1,
        "Serial/key" : { "type" : 6, "access_mode" : 7, "last_written" : 0 },
        "Serial" : "0x00000050",
        "Enabled/key" : { "type" : 8, "access_mode" : 7, "last_written" : 0 },
        "Enabled" : true
      },
      "Variables" : {
        "Rate/key" : { "type" : 9, "num_values" : 3, "access_mode" : 7, "last_written" : 0 },
        "Rate" : [ 1.5000000e+00, "NaN", 0 ]
      }
    }
  },
  "Alias" : {
    "Run/key" : { "type" : 16, "link" : "/Runinfo/Run number", "item_size" : 20, "access_mode" : 7, "last_written" : 0 },
    "Run" : "/Runinfo/Run number"
  }
}
"""  # noqa: E501

ODB_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!-- created by MXML -->
<odb root="/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://midas.psi.ch/odb.xsd">
  <dir name="Runinfo">
    <key name="State" type="INT">3</key>
    <key name="Run number" type="INT32">42901</key>
    <key name="Start time" type="STRING" size="32">Mon Apr 25 10:00:00 2022</key>
  </dir>
  <dir name="Configurations">
    <key name="Exposure" type="DOUBLE">0.3</key>
    <key name="Enable" type="BOOL">y</key>
    <key name="Mask" type="DWORD">4294967295</key>
    <keyarray name="Gains" type="FLOAT" num_values="3">
      <value index="0">1.5</value>
      <value index="1">NAN</value>
      <value index="2">2</value>
    </keyarray>
    <keyarray name="Names" type="STRING" size="32" num_values="2">
      <value index="0">cam0</value>
      <value index="1"></value>
    </keyarray>
  </dir>
</odb>
"""

ODB_ASCII = """[/Runinfo]
State = INT : 3
Run number = INT32 : 42901
Start time = STRING : [32] Mon Apr 25 10:00:00 2022

[/Configurations]
Exposure = DOUBLE : 0.3
Gains = FLOAT[3] :
[0] 1.5
[1] 2.5
[2] 3
Names = STRING[2] :
[32] cam0
[32] cam1
Note = STRING : [====#$@$#====]
line one
line two
====#$@$#====
"""


def test_mlogger_json_values_are_clean() -> None:
    tree = parse_odb_dump(MLOGGER_JSON)
    assert tree["Runinfo"] == {
        "State": 3,
        "Run number": 42901,
        "Start time": "Mon Apr 25 10:00:00 2022",
    }
    common = tree["Equipment"]["Trigger"]["Common"]
    assert common == {"Event ID": 1, "Trigger mask": -1, "Serial": 0x50, "Enabled": True}
    rate = tree["Equipment"]["Trigger"]["Variables"]["Rate"]
    assert rate[0] == 1.5 and math.isnan(rate[1]) and rate[2] == 0
    assert tree["Alias"]["Run"] == "/Runinfo/Run number"


def test_mlogger_json_metadata_is_kept_apart() -> None:
    dump = read_odb_dump(MLOGGER_JSON.encode() + b"\0")  # mlogger payloads may end in NUL
    assert dump.format == "json"
    assert dump.metadata["/Runinfo/Run number"]["type"] == tid.TID_INT32
    assert dump.metadata["/Runinfo/Start time"]["item_size"] == 32
    assert dump.metadata["/Alias/Run"]["link"] == "/Runinfo/Run number"
    assert dump.metadata["/Equipment/Trigger/Variables/Rate"]["num_values"] == 3
    assert dump.get("/runinfo/RUN NUMBER") == 42901


def test_xml_dump() -> None:
    dump = read_odb_dump(ODB_XML)
    assert dump.format == "xml"
    tree = dump.tree
    assert tree["Runinfo"]["Run number"] == 42901
    assert tree["Runinfo"]["Start time"] == "Mon Apr 25 10:00:00 2022"
    config = tree["Configurations"]
    assert config["Exposure"] == 0.3
    assert config["Enable"] is True
    assert config["Mask"] == 2**32 - 1
    assert config["Gains"][0] == 1.5 and math.isnan(config["Gains"][1])
    assert config["Names"] == ["cam0", ""]
    assert dump.metadata["/Configurations/Gains"] == {"type": tid.TID_FLOAT, "num_values": 3}


def test_ascii_dump() -> None:
    dump = read_odb_dump(ODB_ASCII)
    assert dump.format == "ascii"
    assert dump.tree["Runinfo"]["Run number"] == 42901
    assert dump.tree["Runinfo"]["Start time"] == "Mon Apr 25 10:00:00 2022"
    assert dump.tree["Configurations"]["Gains"] == [1.5, 2.5, 3.0]
    assert dump.tree["Configurations"]["Names"] == ["cam0", "cam1"]
    assert dump.tree["Configurations"]["Note"] == "line one\nline two"


def test_not_a_dump() -> None:
    with pytest.raises(MidasFormatError, match="not an ODB dump"):
        parse_odb_dump(b"hello")
    with pytest.raises(MidasFormatError, match="not valid JSON"):
        parse_odb_dump("{ broken")
    with pytest.raises(MidasFormatError, match="not valid XML"):
        parse_odb_dump("<odb><dir>")


def test_odb_get_is_case_insensitive_and_indexes_arrays() -> None:
    tree = parse_odb_dump(MLOGGER_JSON)
    assert odb_get(tree, "/Runinfo/Run number") == 42901
    assert odb_get(tree, "runinfo/run NUMBER") == 42901
    assert odb_get(tree, "/Equipment/Trigger/Variables/Rate[0]") == 1.5
    assert odb_get(tree, "/Runinfo/Missing", default=None) is None
    assert odb_get(tree, "/") is tree
    with pytest.raises(OdbKeyError, match="'Missing' under /Runinfo"):
        odb_get(tree, "/Runinfo/Missing")
    with pytest.raises(KeyError):
        odb_get(tree, "/Runinfo/State/deeper")


def test_dump_json_has_mlogger_shape() -> None:
    text = dump_odb_json(
        {"Runinfo": {"Run number": 7, "Running": True}, "Cam": {"Gain": 0.5, "Name": "x"}}
    )
    assert text.startswith('{\n  "Runinfo" : {\n')
    assert '    "Run number/key" : { "type" : 7, "access_mode" : 7, "last_written" : 0 },\n' in text
    assert '    "Run number" : 7' in text
    assert '"Running" : true' in text
    assert '"Name/key" : { "type" : 12, "item_size" : 256,' in text
    json.loads(text)  # valid JSON


def test_dump_json_round_trip_with_metadata() -> None:
    dump = read_odb_dump(MLOGGER_JSON)
    text = dump_odb_json(dump.tree, dump.metadata)
    assert '"Event ID" : "0x0001"' in text  # UINT16 written as MIDAS does
    assert '"Serial" : "0x00000050"' in text
    again = read_odb_dump(text)
    assert json.dumps(again.tree, sort_keys=True) == json.dumps(dump.tree, sort_keys=True)
    assert again.metadata["/Alias/Run"]["type"] == tid.TID_LINK
    assert again.metadata["/Alias/Run"]["link"] == "/Runinfo/Run number"


def test_dump_json_infers_types() -> None:
    text = dump_odb_json(
        {"a": [1, 2], "b": 2**40, "c": [0.5, "NaN"], "d": [], "e": None, "f": [True]}
    )
    tree = read_odb_dump(text).tree
    assert tree["a"] == [1, 2]
    assert tree["b"] == 2**40
    assert tree["c"][0] == 0.5 and math.isnan(tree["c"][1])
    assert tree["d"] == []
    assert tree["e"] == ""
    assert tree["f"] == [True]


def test_real_lime_dump(shared_data: Path) -> None:
    text = (shared_data / "odb_lime_lngs_run42901.json").read_bytes()
    tree = parse_odb_dump(text)
    assert odb_get(tree, "/Runinfo/Run number") == 42901
    assert odb_get(tree, "/Configurations/Exposure") == 0.3
    assert odb_get(tree, "/middleware/nsigma") == 2.5
    assert odb_get(tree, "/Experiment/Name") == "CYGNUS_RD"
    assert "Trigger" in odb_get(tree, "/Equipment")
    # written back in mlogger's shape, the values survive
    again = parse_odb_dump(dump_odb_json(tree))
    assert odb_get(again, "/Runinfo/Run number") == 42901
    assert odb_get(again, "/middleware/nsigma") == 2.5
    assert again["Equipment"].keys() == tree["Equipment"].keys()
