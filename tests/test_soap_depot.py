"""SOAP chargers in the running appliance: commanded at the address they give (and followed when it
changes), shown as "can report, cannot be commanded" when it does not answer, and a depot of all four
protocols charging at once."""

from __future__ import annotations

import datetime as dt
import json

from appliance.core.chargers import command_reach
from appliance.ocpp15_soap.cp_models import CP15
from appliance.ocpp16.soap_link import CP16
from tests.conftest import add_fleet, run_cli, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201
from tests.virtual_soap_chargepoint import serve_chargepoint
from tests.virtual_soap_client import VirtualSoapCharger

UTC = dt.timezone.utc


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 21, hour, minute, tzinfo=UTC)


async def command(appliance, identity: str, name: str, arguments: dict | None = None):
    return await appliance.core.commands.send(identity, name, arguments or {}, actor="tester", reason="test")


async def test_a_soap_charger_is_commanded_at_the_address_it_gives_and_followed_when_it_moves(appliance):
    await appliance.core.chargers.add("S16", "ocpp1.6-soap")
    assert appliance.core.links.get("S16") is None  # no address yet: nothing to command it at
    async with serve_chargepoint(CP16, "S16") as first, serve_chargepoint(CP16, "S16") as second:
        charger = await VirtualSoapCharger.connect(appliance.url, "S16", "1.6", from_url=first.url)
        assert (await charger.boot()).status == "Accepted"
        await wait_for(lambda: appliance.core.links.get("S16") is not None)
        assert (await command(appliance, "S16", "reset", {"hard": True})).status == "Accepted"
        assert first.last("Reset") == {"type": "Hard"}

        charger.addressing.address = second.url  # e.g. a new DHCP lease
        await charger.heartbeat()
        await wait_for(lambda: _endpoint_is(appliance, "S16", second.url))
        assert (await command(appliance, "S16", "clear_cache")).status == "Accepted"
        assert [a for a, _ in second.received] == ["ClearCache"]
        assert "ClearCache" not in [a for a, _ in first.received]


async def _endpoint_is(appliance, identity, url):
    record = await appliance.core.chargers.get(identity)
    return record.endpoint_url == url and appliance.core.links.get(identity).endpoint_url == url


async def test_a_charger_that_cannot_be_reached_back_says_so(appliance, unused_tcp_port):
    closed = f"http://127.0.0.1:{unused_tcp_port}/Ocpp/ChargePointService/"
    await appliance.core.chargers.add("NAT1", "ocpp1.5-soap", endpoint_url=closed)
    charger = await VirtualSoapCharger.connect(appliance.url, "NAT1", "1.5")
    assert (await charger.boot()).status == "Accepted"  # it reports fine...
    result = await command(appliance, "NAT1", "unlock", {"connector_number": 1})
    assert result.status in ("Offline", "Timeout") and closed in result.detail  # ...but cannot be commanded
    record = await appliance.core.chargers.get("NAT1")
    assert record.reachable == "no"
    assert command_reach(record).startswith(f"can report, cannot be commanded at {closed}")
    shown = json.loads(await run_cli(appliance.core.settings.data_dir, "charger", "show", "NAT1", "--json"))
    assert shown["commands"].startswith("can report, cannot be commanded")


async def test_a_soap_15_charger_is_told_what_its_version_cannot_do(appliance):
    async with serve_chargepoint(CP15, "S15") as cp:
        await appliance.core.chargers.add("S15", "ocpp1.5-soap", endpoint_url=cp.url)
        await wait_for(lambda: appliance.core.links.get("S15") is not None)
        result = await command(appliance, "S15", "trigger_message", {"message": "StatusNotification"})
        assert result.status == "NotSupportedByCharger" and "1.5" in result.detail
        assert cp.received == []


async def test_a_depot_of_all_four_protocols_charging_at_once(appliance):
    core = appliance.core
    await add_fleet(core, {f"CARD{n}": {} for n in range(1, 5)})
    for identity, protocol in (("S15", "ocpp1.5-soap"), ("S16", "ocpp1.6-soap"), ("J16", "ocpp1.6-json"),
                               ("J201", "ocpp2.0.1")):
        await core.chargers.add(identity, protocol)
    s15 = await VirtualSoapCharger.connect(appliance.url, "S15", "1.5")
    s16 = await VirtualSoapCharger.connect(appliance.url, "S16", "1.6")
    async with connect16(appliance.url, "J16") as j16, connect201(appliance.url, "J201") as j201:
        for soap in (s15, s16):
            assert (await soap.boot()).status == "Accepted"
        tx15 = (await s15.start("CARD1", 1, meter_start=1000, timestamp=at(6))).transactionId
        tx16 = (await s16.start("CARD2", 2, meter_start=2000, timestamp=at(6, 5))).transactionId
        txj = (await j16.start_transaction("CARD3", 1, meter_start=3000, timestamp="2026-11-21T06:10:00Z")
               ).transaction_id
        await j201.transaction_event("Started", "uuid-201", 0, "Authorized", timestamp="2026-11-21T06:15:00Z",
                                     id_token="CARD4", energy_wh=4000)
        await s15.meter_values(tx15, 5000, 1, timestamp=at(6, 30))
        await s16.meter_values(tx16, 6000, 2, timestamp=at(6, 30))
        await j16.meter_values(txj, 7000, timestamp="2026-11-21T06:30:00Z")
        await j201.transaction_event("Updated", "uuid-201", 1, "MeterValuePeriodic", timestamp="2026-11-21T06:30:00Z",
                                     energy_wh=8000)
        active = json.loads(await run_cli(core.settings.data_dir, "session", "list", "--active", "--json"))
        assert sorted((s["charger_identity"], s["id_tag"], s["last_meter_wh"]) for s in active) == [
            ("J16", "CARD3", 7000), ("J201", "CARD4", 8000), ("S15", "CARD1", 5000), ("S16", "CARD2", 6000)]
        await s15.stop(tx15, 11000, timestamp=at(7))
        await s16.stop(tx16, 12000, timestamp=at(7), reason="EVDisconnected")
        await j16.stop_transaction(txj, 13000, timestamp="2026-11-21T07:00:00Z")
        await j201.transaction_event("Ended", "uuid-201", 2, "EVDeparted", timestamp="2026-11-21T07:00:00Z",
                                     energy_wh=14000, stopped_reason="EVDisconnected")
    sessions = json.loads(await run_cli(core.settings.data_dir, "session", "list", "--json"))
    assert sorted((s["charger_identity"], s["connector_number"], s["id_tag"], s["energy_wh"], s["stop_reason"],
                   s["stopped_at"]) for s in sessions) == [
        ("J16", 1, "CARD3", 10000, "Local", "2026-11-21T07:00:00+00:00"),
        ("J201", 1, "CARD4", 10000, "EVDisconnected", "2026-11-21T07:00:00+00:00"),
        ("S15", 1, "CARD1", 10000, "Local", "2026-11-21T07:00:00+00:00"),
        ("S16", 2, "CARD2", 10000, "EVDisconnected", "2026-11-21T07:00:00+00:00"),
    ]
