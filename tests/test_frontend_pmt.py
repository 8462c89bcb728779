"""PMT digitizer frontend on the MIDAS stand-in: DGHn/DIGn banks in the experiment's layout,
both board kinds, live Settings, decoded with our own bank code."""

from __future__ import annotations

import pytest

standin = pytest.importorskip("midas.standin", reason="scenario tests use the MIDAS stand-in")

import midas  # noqa: E402
import midas.client  # noqa: E402

from cygno_mw.banks.pmt import V1720, V1742, decode_pmt_banks  # noqa: E402
from cygno_mw.frontends.pmt.equipment import PmtFrontend  # noqa: E402
from cygno_mw.midasfile.event import decode_event  # noqa: E402


@pytest.fixture()
def client():
    standin.reset()
    crew = midas.client.MidasClient("crew")
    yield crew
    crew.disconnect()


def boards_of(event, index=0):
    ours = decode_event(bytes(event.pack()))
    assert sorted(ours.banks) == [f"DGH{index}", f"DIG{index}"]
    return decode_pmt_banks(ours.bank(f"DGH{index}").data, ours.bank(f"DIG{index}").data)


def run(client, fe, passes, event_id):
    handle = client.open_event_buffer("SYSTEM")
    client.register_event_request(handle, event_id=event_id)
    client.start_run()
    standin.run_frontend(fe, passes)
    client.stop_run()
    events = []
    while (event := client.receive_event(handle)) is not None:
        events.append(event)
    return events


def test_events_carry_both_digitizers_in_the_experiment_layout(client):
    client.odb_set("/Equipment/PMT0/Settings", {"Trigger rate": 0.0},
                   remove_unspecified_keys=False)
    fe = PmtFrontend(0)
    events = run(client, fe, 4, 20)
    assert len(events) == 3
    for event in events:
        fast, slow = boards_of(event)
        assert (fast.model, fast.n_channels, fast.n_samples) == (V1742, 32, 1024)
        assert (slow.model, slow.n_channels, slow.n_samples) == (V1720, 8, 4000)
        assert fast.n_events == slow.n_events >= 1  # one PMT trigger per camera signal
        assert fast.start_cells is not None and fast.sampling_rate == 750
    assert client.odb_get("/Equipment/PMT0/Variables/Events") == 3
    assert client.odb_get("/Equipment/PMT0/Common/Event ID") == 20


def test_board_choice_changes_live_and_bad_values_are_rejected(client):
    client.odb_set("/Equipment/PMT1/Settings", {"Trigger rate": 0.0},
                   remove_unspecified_keys=False)
    fe = PmtFrontend(1)
    standin.set_as_user("/Equipment/PMT1/Settings/Boards", "V1720")
    standin.set_as_user("/Equipment/PMT1/Settings/Trigger rate", -2.0)
    standin.set_as_user("/Equipment/PMT1/Settings/Driver", "caen")
    events = run(client, fe, 3, 21)
    assert events
    boards = boards_of(events[-1], index=1)
    assert [b.model for b in boards] == [V1720]
    settings = client.odb_get("/Equipment/PMT1/Settings")
    assert settings["Trigger rate"] == 0.0 and settings["Driver"] == "sim"
    errors = standin.error_messages()
    assert any("Trigger rate" in m for m in errors) and any("caen" in m for m in errors)
