"""Every charger's local list kept in step with the user group, end to end (1.6 JSON and 2.0.1):
full on first connect, differences within seconds of a change, nothing when in step, the whole list
again when the charger lost it, ClearCache on a block, and the charger's own limits."""

from __future__ import annotations

import pytest

from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201


@pytest.fixture
async def depot(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", local_list_sync=True))
    await add_fleet(app.core, {"CARD1": {}, "CARD2": {}, "OLD": {}})
    await app.core.users.set_tag_status("OLD", "blocked")
    return app


def sends(cp) -> list[dict]:
    return [kw for action, kw in cp.received if action == "SendLocalList"]


async def in_step(app, identity, cp) -> bool:
    state = await app.core.local_lists.state(identity)
    return state is not None and state.version == cp.local_list_version > 0 and not state.error


async def test_a_16_charger_gets_the_list_and_every_change(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1") as cp:
        await wait_for(lambda: in_step(depot, "CP1", cp))
        assert cp.local_list == {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"}
        assert [s["update_type"] for s in sends(cp)] == ["Full"]

        await depot.core.users.add_tag("CARD3", "alice")
        await wait_for(lambda: cp.local_list.get("CARD3") == "Accepted")
        assert sends(cp)[-1]["update_type"] == "Differential"
        assert [e["id_tag"] for e in sends(cp)[-1]["local_authorization_list"]] == ["CARD3"]

        await depot.core.users.set_tag_status("CARD1", "blocked")
        await wait_for(lambda: cp.local_list.get("CARD1") == "Blocked")
        assert "ClearCache" in [a for a, _ in cp.received]  # no charging on a cached acceptance
        await wait_for(lambda: in_step(depot, "CP1", cp))

    # Reconnected and in step: versions compared, nothing sent.
    async with connect16(depot.url, "CP1", boot=False) as again:
        again.local_list_version, again.local_list = cp.local_list_version, dict(cp.local_list)
        await again.boot()
        await wait_for(lambda: any(a == "GetLocalListVersion" for a, _ in again.received))
        await wait_for(lambda: in_step(depot, "CP1", again))
        assert sends(again) == []


async def test_a_charger_that_lost_its_list_gets_it_whole(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1") as cp:
        await wait_for(lambda: in_step(depot, "CP1", cp))
    async with connect16(depot.url, "CP1") as fresh:  # e.g. replaced after a fault: version 0, no list
        await wait_for(lambda: fresh.local_list == {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"})
        assert [s["update_type"] for s in sends(fresh)] == ["Full"]


async def test_the_chargers_limits_are_kept_and_what_did_not_fit_is_reported(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1", boot=False) as cp:
        cp.configuration.update({"LocalAuthListMaxLength": "2", "SendLocalListMaxLength": "1"})
        await cp.boot()
        await wait_for(lambda: in_step(depot, "CP1", cp))
        assert all(len(s.get("local_authorization_list") or []) <= 1 for s in sends(cp))
        assert [s["update_type"] for s in sends(cp)] == ["Full", "Differential", "Differential"]
        assert cp.local_list == {"CARD1": "Accepted", "CARD2": "Accepted"}  # accepted tags first
        state = await depot.core.local_lists.state("CP1")
        assert state.left_out == ["OLD"]


async def test_a_201_station_gets_the_list(depot):
    await depot.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(depot.url, "CS1") as station:
        await wait_for(lambda: in_step(depot, "CS1", station))
        assert {tag: info["status"] for tag, info in station.local_list.items()} == \
            {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"}


async def test_a_failed_update_is_recorded_and_the_next_sync_sends_the_list_whole(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1", boot=False) as cp:
        cp.answers["SendLocalList"] = "Failed"
        await cp.boot()
        state = await wait_for(lambda: _errored(depot))
        assert state.error.startswith("SendLocalList version 1: Failed")
        del cp.answers["SendLocalList"]
        result = await depot.core.local_lists.sync("CP1")
        assert result.ok and cp.local_list == {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"}


async def _errored(app):
    state = await app.core.local_lists.state("CP1")
    return state if state is not None and state.error else None


async def test_a_new_charger_is_told_how_to_behave_offline_and_its_answers_are_kept(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1", boot=False) as cp:
        cp.answers["ChangeConfiguration"] = "Accepted"
        await cp.boot()
        await wait_for(lambda: in_step(depot, "CP1", cp))
        # after SETTLE_S and the charger's turn for boot work: seconds on a loaded machine
        await wait_for(lambda: depot.core.local_lists.offline_configuration("CP1"), timeout=15)
        assert {k: cp.configuration.get(k) for k in ("LocalAuthListEnabled", "LocalAuthorizeOffline",
                                                     "LocalPreAuthorize", "AllowOfflineTxForUnknownId")} == {
            "LocalAuthListEnabled": "true", "LocalAuthorizeOffline": "true", "LocalPreAuthorize": "true",
            "AllowOfflineTxForUnknownId": "false"}
        answers = (await depot.core.local_lists.offline_configuration("CP1"))["answers"]
        assert set(answers.values()) == {"Accepted"}
    async with connect16(depot.url, "CP1") as again:  # configured once, not at every boot
        await wait_for(lambda: in_step(depot, "CP1", again))
        assert "ChangeConfiguration" not in [a for a, _ in again.received]


async def test_a_201_station_that_lacks_a_setting_shows_what_it_answered(depot):
    await depot.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(depot.url, "CS1") as station:
        answers = (await wait_for(lambda: depot.core.local_lists.offline_configuration("CS1"), timeout=15))["answers"]
        assert answers["LocalAuthListEnabled"] == "Accepted"
        assert answers["LocalAuthorizeOffline"] != "Accepted"  # the virtual station has no such variable


def soap_list_held(cp) -> dict[str, str]:
    """The list a SOAP charger holds after the updates it accepted, applied as OCPP 1.5/1.6 say."""
    held: dict[str, str] = {}
    for action, fields in cp.received:
        if action != "SendLocalList":
            continue
        if fields["updateType"] == "Full":
            held.clear()
        for item in fields.get("localAuthorizationList") or fields.get("localAuthorisationList") or []:
            if "idTagInfo" in item:
                held[item["idTag"]] = item["idTagInfo"]["status"]
            else:
                held.pop(item["idTag"], None)
    return held


@pytest.mark.parametrize("version", ["1.5", "1.6"])
async def test_soap_chargers_get_the_list(depot, version):
    from appliance.ocpp15_soap.cp_models import CP15
    from appliance.ocpp16.soap_link import CP16
    from tests.virtual_soap_chargepoint import serve_chargepoint

    cp_version = {"1.5": CP15, "1.6": CP16}[version]
    async with serve_chargepoint(cp_version, "SOAP1") as cp:
        await depot.core.chargers.add("SOAP1", cp_version.protocol, endpoint_url=cp.url)
        # The link to its address follows the charger's record (an event handler that reads it back).
        await wait_for(lambda: depot.core.commands.links.get("SOAP1") is not None)
        result = await depot.core.local_lists.sync("SOAP1")
        assert result.ok, result
        assert soap_list_held(cp) == {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"}
        assert cp.local_list_version == result.version
        await depot.core.users.set_tag_status("CARD2", "blocked")
        await wait_for(lambda: soap_list_held(cp).get("CARD2") == "Blocked")
        assert "ClearCache" in [a for a, _ in cp.received]


async def test_a_blocked_tag_is_refused_at_the_charger_while_it_is_cut_off_from_the_box(depot):
    await depot.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(depot.url, "CP1") as cp:
        # after SETTLE_S and the charger's turn for boot work: seconds on a loaded machine
        await wait_for(lambda: depot.core.local_lists.offline_configuration("CP1"), timeout=15)
        await wait_for(lambda: in_step(depot, "CP1", cp))
        assert cp.authorize_offline("CARD1") == "Accepted"
        await depot.core.users.set_tag_status("CARD1", "blocked")
        await wait_for(lambda: cp.local_list.get("CARD1") == "Blocked")
    # The connection is gone: the charger decides alone, from what the appliance left it.
    assert cp.authorize_offline("CARD1") == "Blocked"
    assert cp.authorize_offline("CARD2") == "Accepted"
    assert cp.authorize_offline("STRANGER") == "Invalid"  # no offline charging for unknown ids


async def test_a_soap_charger_gets_the_list_when_it_boots(depot):
    from appliance.ocpp16.soap_link import CP16
    from tests.virtual_soap_chargepoint import serve_chargepoint
    from tests.virtual_soap_client import VirtualSoapCharger

    async with serve_chargepoint(CP16, "SOAPB") as cp:
        await depot.core.chargers.add("SOAPB", "ocpp1.6-soap")
        charger = await VirtualSoapCharger.connect(depot.url, "SOAPB", "1.6", from_url=cp.url)
        assert (await charger.boot()).status == "Accepted"
        await wait_for(lambda: soap_list_held(cp) == {"CARD1": "Accepted", "CARD2": "Accepted", "OLD": "Blocked"})
        await wait_for(lambda: depot.core.local_lists.offline_configuration("SOAPB"), timeout=15)
        assert cp.configuration["LocalAuthorizeOffline"] == "true"
