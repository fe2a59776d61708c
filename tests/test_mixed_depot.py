"""A depot with a 1.6 and a 2.0.1 charger charging at the same time: both sessions right, as the
technician's `appliance session list --json` shows them."""

from __future__ import annotations

import json

from tests.conftest import add_fleet, run_cli
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201


async def session_list(data_dir, *args: str) -> list[dict]:
    return json.loads(await run_cli(data_dir, "session", "list", "--json", *args))


async def test_a_16_and_a_201_charger_charging_at_once(appliance):
    core = appliance.core
    await add_fleet(core, {"CARD1": {"max_concurrent_tx": 2}, "CARD2": {}})
    await core.chargers.add("CP16", "ocpp1.6-json")
    await core.chargers.add("CS201", "ocpp2.0.1")
    async with connect16(appliance.url, "CP16") as old, connect201(appliance.url, "CS201") as new:
        started = await old.start_transaction("CARD1", 1, meter_start=5000, timestamp="2026-11-21T06:00:00Z")
        await new.transaction_event("Started", "f00d-1", 0, "Authorized", timestamp="2026-11-21T06:01:00Z",
                                    id_token="CARD2", evse_id=2, energy_wh=100)
        await old.meter_values(started.transaction_id, 9000, timestamp="2026-11-21T06:30:00Z")
        await new.transaction_event("Updated", "f00d-1", 1, "MeterValuePeriodic",
                                    timestamp="2026-11-21T06:30:00Z", evse_id=2, energy_wh=20100)
        both = await session_list(core.settings.data_dir, "--active")
        assert {(s["charger_identity"], s["id_tag"], s["stopped_at"]) for s in both} == \
            {("CP16", "CARD1", None), ("CS201", "CARD2", None)}
        await new.transaction_event("Ended", "f00d-1", 2, "EVDeparted", timestamp="2026-11-21T07:00:00Z", evse_id=2,
                                    energy_wh=40100, stopped_reason="EVDisconnected")
        await old.stop_transaction(started.transaction_id, 15000, timestamp="2026-11-21T07:05:00Z")
    sessions = {s["charger_identity"]: s for s in await session_list(core.settings.data_dir)}
    assert {k: (v["connector_number"], v["id_tag"], v["started_at"], v["stopped_at"], v["energy_wh"],
                v["stop_reason"]) for k, v in sessions.items()} == {
        "CP16": (1, "CARD1", "2026-11-21T06:00:00+00:00", "2026-11-21T07:05:00+00:00", 10000, "Local"),
        "CS201": (2, "CARD2", "2026-11-21T06:01:00+00:00", "2026-11-21T07:00:00+00:00", 40000, "EVDisconnected"),
    }
    assert sessions["CS201"]["remote_tx_id"] == "f00d-1" and sessions["CS201"]["seq_gaps"] == []
    assert sessions["CP16"]["remote_tx_id"] == ""
