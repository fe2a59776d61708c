"""The technician's live commands on SOAP chargers, through a REAL running server: added with the
address they are commanded at, the same commands and output as for JSON chargers."""

from __future__ import annotations

import json

import pytest

from appliance.ocpp15_soap.cp_models import CP15
from appliance.ocpp16.soap_link import CP16
from tests import backend
from tests.test_cli_live import ServerProcess, acli
from tests.virtual_soap_chargepoint import serve_chargepoint


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(backend.share(tmp_path_factory.mktemp("livesoap") / "data")).start()
    yield srv
    assert srv.terminate() == 0, srv.log()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.mark.parametrize("version", [CP15, CP16], ids=["1.5", "1.6"])
async def test_live_commands_on_a_soap_charger(server, version):
    identity = f"SOAP-CLI-{version.version}"
    async with serve_chargepoint(version, identity) as cp:
        await acli(server.data_dir, "charger", "add", identity, "--protocol", version.protocol, "--endpoint", cp.url)
        text = (await acli(server.data_dir, "charger", "reset", identity, "--hard")).stdout
        assert "status: Accepted" in text.splitlines()
        assert cp.last("Reset") == {"type": "Hard"}
        one = json.loads((await acli(server.data_dir, "charger", "config", "get", identity, "HeartbeatInterval",
                                     "--json")).stdout)
        assert [(k["key"], k["value"]) for k in one["data"]["configuration_key"]] == [("HeartbeatInterval", "300")]
        trigger = await acli(server.data_dir, "charger", "trigger", identity, "Heartbeat", "--json",
                             ok=version is CP16)
        assert json.loads(trigger.stdout)["status"] == ("Accepted" if version is CP16 else "NotSupportedByCharger")
        shown = json.loads((await acli(server.data_dir, "charger", "show", identity, "--json")).stdout)
        assert shown["commands"] == f"at {cp.url}"


async def test_a_bad_endpoint_is_a_clear_error(server):
    result = await acli(server.data_dir, "charger", "add", "SOAP-BAD", "--protocol", "ocpp1.6-soap",
                        "--endpoint", "depot-box:8080", ok=False)
    assert result.exit_code == 1 and "http:// or https:// URL" in result.stderr
