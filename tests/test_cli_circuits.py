"""`appliance circuit ...`, `priority ...` and `session charge-first` against a running server: a plan
changed with the CLI takes effect in the server at once, and `circuit show` prints its live load."""

from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from tests import backend
from tests.conftest import wait_for
from tests.test_cli_live import ServerProcess, acli, cli_run, must
from tests.test_dlm_depot import tx_limit
from tests.virtual_charger import connect16
from tests.virtual_charger201 import now_wire


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = backend.share(tmp_path_factory.mktemp("circuits") / "data")
    for args in (("company", "add", "Blue Taxi"), ("user", "add", "alice", "--company", "Blue Taxi"),
                 ("tag", "add", "CARD1", "--user", "alice"), ("tag", "add", "CARD2", "--user", "alice"),
                 ("charger", "add", "CC1", "--protocol", "ocpp1.6-json"),
                 ("charger", "add", "CC2", "--protocol", "ocpp1.6-json")):
        must(cli_run(data_dir, *args))
    srv = ServerProcess(data_dir, {"APPLIANCE_DLM_MIN_INTERVAL_S": "0", "APPLIANCE_DLM_HYSTERESIS_A": "0.5"}).start()
    yield srv
    assert srv.terminate() == 0, srv.log()
    assert "Traceback" not in srv.log(), srv.log()


async def test_a_plan_made_with_the_cli_runs_in_the_server_and_shows_live(server):
    d = server.data_dir
    await acli(d, "circuit", "add", "main", "--max-current", "40")
    await acli(d, "circuit", "add", "row1", "--max-current", "20", "--parent", "main", "--reserve", "2")
    await acli(d, "circuit", "assign", "row1", "CC1", "--phases", "1", "--phase", "L2")
    await acli(d, "circuit", "assign", "row1", "CC2")
    async with connect16(server.url, "CC1") as one, connect16(server.url, "CC2") as two:
        tx1 = (await one.call(call.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp=now_wire()))).transaction_id
        tx2 = (await two.call(call.StartTransaction(connector_id=1, id_tag="CARD2", meter_start=0,
                                                    timestamp=now_wire()))).transaction_id
        # row1: 20 A less 2 A reserve, shared on L2 by both.
        await wait_for(lambda: tx_limit(one, 1, tx1) == 9.0 and tx_limit(two, 1, tx2) == 9.0)
        # The breaker turns out to be 26 A: the server follows the CLI within a second.
        await acli(d, "circuit", "edit", "row1", "--max-current", "26")
        await wait_for(lambda: tx_limit(one, 1, tx1) == 12.0 and tx_limit(two, 1, tx2) == 12.0, timeout=3)
        shown = (await acli(d, "circuit", "show", "row1")).stdout
        assert "CC1" in shown and "charging" in shown and "waiting: (none)" in shown, shown
        live = json.loads((await acli(d, "circuit", "show", "row1", "--json")).stdout)
        assert live["status"]["allocated_a"]["L2"] == 24.0
        assert {e["charger"]: e["limit_a"] for e in live["status"]["evses"]} == {"CC1": 12.0, "CC2": 12.0}
        # Charge first, from the CLI.
        await acli(d, "session", "charge-first", str(tx2))
        await wait_for(lambda: tx_limit(two, 1, tx2) == 24.0 and tx_limit(one, 1, tx1) == 0.0, timeout=3)
        listed = json.loads((await acli(d, "circuit", "list", "--json")).stdout)
        assert [c["name"] for c in listed] == ["main", "row1"]


async def test_bad_plans_are_refused_with_a_clear_message(server):
    d = server.data_dir
    await acli(d, "circuit", "add", "solo", "--max-current", "16", "--phases", "1", "--phase", "L3")
    for args, message in [
        (("circuit", "add", "solo", "--max-current", "16"), "circuit 'solo' already exists"),
        (("circuit", "add", "x", "--max-current", "10", "--parent", "nowhere"), "no parent circuit 'nowhere'"),
        (("circuit", "add", "x3", "--max-current", "10", "--parent", "solo"), "carries only L3"),
        (("circuit", "assign", "solo", "CC1", "--phases", "3"), "wire the EVSE with 1 phase"),
        (("circuit", "assign", "solo", "NOPE"), "no charger 'NOPE'"),
        (("circuit", "assign", "solo", "CC1", "--phase", "L1"), "does not carry L1"),
        (("circuit", "add", "m", "--max-current", "10", "--meter", "ftp://x"), "unknown scheme"),
        (("priority", "set", "company", "Nobody", "3"), "no company 'Nobody'"),
        (("session", "charge-first", "9999"), "no session 9999"),
        (("circuit", "unassign", "CC1", "--evse", "4"), "is not wired"),
    ]:
        result = await acli(d, *args, ok=False)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    await acli(d, "priority", "set", "company", "Blue Taxi", "3")
    assert json.loads((await acli(d, "priority", "list", "--json")).stdout) == \
        [{"kind": "company", "name": "Blue Taxi", "priority": 3}]
