"""The technician's live commands on an OCPP 2.0.1 station, through a REAL running server: the same
commands and the same output as for a 1.6 charger (see test_cli_live.py)."""

from __future__ import annotations

import json

import pytest

from tests import backend
from tests.test_cli_live import ServerProcess, acli, cli_run, must
from tests.virtual_charger201 import connect201


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = backend.share(tmp_path_factory.mktemp("live201") / "data")
    must(cli_run(data_dir, "company", "add", "Blue Taxi"))
    must(cli_run(data_dir, "user", "add", "alice", "--company", "Blue Taxi"))
    must(cli_run(data_dir, "tag", "add", "CARD1", "--user", "alice"))
    srv = ServerProcess(data_dir).start()
    yield srv
    assert srv.terminate() == 0, srv.log()
    assert "Traceback" not in srv.log(), srv.log()


async def add_station(data_dir, identity: str) -> None:
    await acli(data_dir, "charger", "add", identity, "--protocol", "ocpp2.0.1")


LIVE_COMMANDS = [
    # CLI arguments after the station id, the 2.0.1 call it must get, fields of it, the answer shown
    (["reset"], "Reset", {"type": "OnIdle"}, "Accepted"),
    (["reset", "--hard"], "Reset", {"type": "Immediate"}, "Accepted"),
    (["unlock", "--connector", "2"], "UnlockConnector", {"evse_id": 2, "connector_id": 1}, "Unlocked"),
    (["trigger", "StatusNotification", "--connector", "1"], "TriggerMessage",
     {"requested_message": "StatusNotification", "evse": {"id": 1}}, "Accepted"),
    (["remote-start", "--connector", "1", "--tag", "CARD1"], "RequestStartTransaction",
     {"evse_id": 1, "id_token": {"id_token": "CARD1", "type": "ISO14443"}}, "Accepted"),
]


@pytest.mark.parametrize("args, action, expected, answer", LIVE_COMMANDS,
                         ids=["-".join(c[0][:2]) for c in LIVE_COMMANDS])
async def test_live_command_prints_the_stations_answer(server, args, action, expected, answer):
    identity = f"S201-{action}-{len(args)}"
    await add_station(server.data_dir, identity)
    async with connect201(server.url, identity) as station:
        text = (await acli(server.data_dir, "charger", args[0], identity, *args[1:])).stdout
        assert f"status: {answer}" in text.splitlines(), text
        got = station.last(action)
        assert {k: got.get(k) for k in expected} == expected


async def test_remote_stop_names_the_session_by_the_appliances_id(server):
    await add_station(server.data_dir, "S201-STOP")
    async with connect201(server.url, "S201-STOP") as station:
        await station.transaction_event("Started", "abc-123", 0, "Authorized", id_token="CARD1", energy_wh=0)
        [session] = json.loads((await acli(server.data_dir, "session", "list", "--charger", "S201-STOP",
                                           "--json")).stdout)
        text = (await acli(server.data_dir, "charger", "remote-stop", "S201-STOP", "--transaction",
                           str(session["id"]))).stdout
        assert "status: Accepted" in text.splitlines()
        assert station.last("RequestStopTransaction")["transaction_id"] == "abc-123"


async def test_config_get_and_set_look_as_they_do_for_16(server):
    await add_station(server.data_dir, "S201-CFG")
    async with connect201(server.url, "S201-CFG") as station:
        await acli(server.data_dir, "charger", "config", "set", "S201-CFG", "HeartbeatInterval", "90")
        got = station.last("SetVariables")["set_variable_data"][0]
        assert (got["component"]["name"], got["variable"]["name"], got["attribute_value"]) == \
            ("OCPPCommCtrlr", "HeartbeatInterval", "90")
        one = json.loads((await acli(server.data_dir, "charger", "config", "get", "S201-CFG", "HeartbeatInterval",
                                     "--json")).stdout)
        assert [(k["key"], k["value"]) for k in one["data"]["configuration_key"]] == [("HeartbeatInterval", "90")]
        everything = json.loads((await acli(server.data_dir, "charger", "config", "get", "S201-CFG",
                                            "--json")).stdout)
        keys = {k["key"]: k.get("value") for k in everything["data"]["configuration_key"]}
        assert keys["OCPPCommCtrlr.HeartbeatInterval"] == "90" and keys["TxCtrlr.EVConnectionTimeOut"] == "120"
