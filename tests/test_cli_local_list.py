"""`appliance charger local-list show|sync` against a real running server."""

from __future__ import annotations

import json

import pytest

from tests import backend
from tests.test_cli_live import ServerProcess, acli, cli_run, must
from tests.virtual_charger import connect16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = backend.share(tmp_path_factory.mktemp("locallist") / "data")
    must(cli_run(data_dir, "user", "add", "alice"))
    must(cli_run(data_dir, "tag", "add", "CARD1", "--user", "alice"))
    must(cli_run(data_dir, "tag", "add", "CARD2", "--user", "alice"))
    must(cli_run(data_dir, "tag", "block", "CARD2"))
    must(cli_run(data_dir, "charger", "add", "LL1", "--protocol", "ocpp1.6-json"))
    srv = ServerProcess(data_dir).start()
    yield srv
    assert srv.terminate() == 0, srv.log()
    assert "Traceback" not in srv.log(), srv.log()


async def test_show_then_sync_then_show(server):
    before = (await acli(server.data_dir, "charger", "local-list", "show", "LL1")).stdout
    assert before.strip() == "LL1: no local list sent yet (2 tags by the rules)"
    async with connect16(server.url, "LL1") as cp:
        synced = await acli(server.data_dir, "charger", "local-list", "sync", "LL1", "--reason", "new cards")
        assert "status: Accepted" in synced.stdout.splitlines()
        assert cp.local_list == {"CARD1": "Accepted", "CARD2": "Blocked"}
        shown = json.loads((await acli(server.data_dir, "charger", "local-list", "show", "LL1", "--json")).stdout)
        assert (shown["version"], shown["entries"], shown["error"]) == (cp.local_list_version, 2, "")
        again = json.loads((await acli(server.data_dir, "charger", "local-list", "sync", "LL1", "--json")).stdout)
        assert again["updates_sent"] == 0  # in step: nothing to send
        full = json.loads((await acli(server.data_dir, "charger", "local-list", "sync", "LL1", "--full",
                                      "--json")).stdout)
        assert full["updates_sent"] == 1 and [kw["update_type"] for a, kw in cp.received
                                              if a == "SendLocalList"][-1] == "Full"


async def test_sync_of_a_charger_not_connected_says_why(server):
    result = await acli(server.data_dir, "charger", "local-list", "sync", "LL1", "--json", ok=False)
    assert result.exit_code == 3
    answer = json.loads(result.stdout)
    assert answer["status"] == "Failed" and "not connected" in answer["error"]
