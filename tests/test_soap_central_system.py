"""OCPP 1.5 and 1.6 SOAP end to end: a zeep charger built from the served WSDL calls every operation.

Every test runs for both versions. Charger addresses (WS-Addressing From) point at a closed local
port, so that anything the appliance might send back fails at once instead of waiting.
"""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest
import zeep.exceptions

from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_soap_client import (VirtualSoapCharger, addressing_of, basic_auth, fault_of, now, post_soap,
                                       soap_request)

CALLBACK = "http://127.0.0.1:9/ocpp/cp"  # the discard port: nothing listens there
PROTOCOLS = {"1.5": "ocpp1.5-soap", "1.6": "ocpp1.6-soap"}


@pytest.fixture(params=["1.5", "1.6"])
def version(request) -> str:
    return request.param


async def charger(appliance, version: str, identity: str = "CP1", boot: bool = True, **kw) -> VirtualSoapCharger:
    cp = await VirtualSoapCharger.connect(appliance.url, identity, version, from_url=kw.pop("from_url", CALLBACK),
                                          **kw)
    if boot:
        assert (await cp.boot()).status == "Accepted"
    return cp


@pytest.fixture
async def cp(appliance, version) -> VirtualSoapCharger:
    """An accepted, booted SOAP charger CP1 at a depot with the fleet."""
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    return await charger(appliance, version)


async def test_known_charger_boots_accepted_and_its_details_are_stored(appliance, version):
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    cp = await charger(appliance, version, boot=False)
    answer = await cp.boot()
    assert answer.status == "Accepted" and answer.currentTime.tzinfo is not None
    assert (answer.interval if version == "1.6" else answer.heartbeatInterval) == 300
    record = await appliance.core.chargers.get("CP1")
    assert (record.vendor, record.model, record.serial_number, record.firmware_version) == \
        ("Virtual", "VS-" + version, "SN-S1", "2.0")


@pytest.mark.parametrize("policy, status16, status15", [
    ("accept", "Accepted", "Accepted"),
    ("pending", "Pending", "Rejected"),  # 1.5 has no Pending: the charger boots again after the interval
    ("reject", "Rejected", "Rejected"),
])
async def test_unknown_charger_policy(start_appliance, tmp_path, version, policy, status16, status15):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers=policy))
    cp = await charger(app, version, "STRANGER", boot=False)
    answer = await cp.boot()
    assert answer.status == (status16 if version == "1.6" else status15)
    record = await app.core.chargers.get("STRANGER")
    registration = {"accept": "accepted", "pending": "pending", "reject": "rejected"}[policy]
    assert (record.registration, record.protocol) == (registration, PROTOCOLS[version])


async def test_pending_charger_is_accepted_at_its_next_boot(appliance, version):
    cp = await charger(appliance, version, "NEW1", boot=False)
    assert (await cp.boot()).status in ("Pending", "Rejected")
    await appliance.core.chargers.set_registration("NEW1", "accepted")
    assert (await cp.boot()).status == "Accepted"
    assert (await cp.heartbeat()).tzinfo is not None


@pytest.mark.parametrize("tag, options, expected", [
    ("CARD1", {}, "Accepted"),
    ("card1", {}, "Accepted"),  # ids are compared in one normalised form
    ("BLOCKED", {"status": "blocked"}, "Blocked"),
    ("OLD", {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)}, "Expired"),
    ("NOBODY", None, "Invalid"),
])
async def test_authorize(appliance, cp, tag, options, expected):
    if options is not None and tag.upper() != "CARD1":
        options = dict(options)  # the table is shared by both versions' runs
        status = options.pop("status", None)
        await appliance.core.users.add_tag(tag, "alice", **options)
        if status:
            await appliance.core.users.set_tag_status(tag, status)
    assert (await cp.authorize(tag)).status == expected


async def test_authorize_returns_parent_and_expiry(appliance, version):
    expires = dt.datetime(2031, 5, 1, tzinfo=dt.timezone.utc)
    await add_fleet(appliance.core, {"CARD1": {"parent_id_tag": "FLEET-A", "expires_at": expires}})
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    cp = await charger(appliance, version)
    info = await cp.authorize("CARD1")
    assert (info.parentIdTag, info.expiryDate) == ("FLEET-A", expires)


async def test_full_transaction_records_meter_values_and_energy(appliance, cp):
    t0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
    started = await cp.start("CARD1", meter_start=10_000, timestamp=t0)
    assert started.idTagInfo.status == "Accepted"
    tx = started.transactionId
    for minutes, energy in ((5, 11_000), (10, 12_500)):
        assert await cp.meter_values(tx, energy, power_w=7400.0, timestamp=t0 + dt.timedelta(minutes=minutes)) is None
    final = [cp.meter_value(t0 + dt.timedelta(minutes=15), [
        {"value": "14000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "16", "measurand": "Current.Import", "unit": "A"}])]
    stopped = await cp.stop(tx, 15_250, id_tag="CARD1", transaction_data=final, timestamp=t0 + dt.timedelta(minutes=16))
    assert stopped.status == "Accepted"
    record = await appliance.core.transactions.get(tx)
    assert (record.meter_start_wh, record.meter_stop_wh, record.energy_wh) == (10_000, 15_250, 5_250)
    assert record.last_meter_wh == 12_500 and not record.active
    samples = await appliance.core.transactions.samples(tx)
    assert len(samples) == 6
    # 1.5 says "Amp": stored in the unit the core reads, whatever the version.
    assert {(s.measurand, s.unit) for s in samples} == {("Energy.Active.Import.Register", "Wh"),
                                                        ("Power.Active.Import", "W"), ("Current.Import", "A")}


async def test_times_with_a_half_hour_offset_are_stored_at_their_instant(appliance, cp):
    newfoundland = dt.timezone(dt.timedelta(hours=-3, minutes=-30))  # spyne's own parser read it as -02:30
    t0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=newfoundland)
    tx = (await cp.start("CARD1", meter_start=0, timestamp=t0)).transactionId
    await cp.meter_values(tx, 1_000, timestamp=t0 + dt.timedelta(minutes=5))
    utc = dt.timezone.utc
    assert (await appliance.core.transactions.get(tx)).started_at == dt.datetime(2026, 11, 21, 11, 30, tzinfo=utc)
    assert {s.sampled_at for s in await appliance.core.transactions.samples(tx)} == {
        dt.datetime(2026, 11, 21, 11, 35, tzinfo=utc)}


async def test_stop_reason_is_kept_in_16_and_local_in_15(appliance, cp, version):
    tx = (await cp.start("CARD1")).transactionId
    await cp.stop(tx, 100, reason="EVDisconnected" if version == "1.6" else None)
    expected = "EVDisconnected" if version == "1.6" else "Local"
    assert (await appliance.core.transactions.get(tx)).stop_reason == expected


async def test_replayed_start_stop_and_meter_values_are_not_counted_twice(appliance, cp):
    t0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
    first = await cp.start("CARD1", meter_start=500, timestamp=t0)
    await cp.meter_values(first.transactionId, 900, timestamp=t0 + dt.timedelta(minutes=5))
    stop1 = await cp.stop(first.transactionId, 1500, "CARD1", timestamp=t0 + dt.timedelta(minutes=30))
    # The charger did not get the answers (a lost connection) and sends its queue again.
    again = await cp.start("CARD1", meter_start=500, timestamp=t0)
    await cp.meter_values(first.transactionId, 900, timestamp=t0 + dt.timedelta(minutes=5))
    stop2 = await cp.stop(first.transactionId, 1500, "CARD1", timestamp=t0 + dt.timedelta(minutes=30))
    assert again.transactionId == first.transactionId and again.idTagInfo.status == first.idTagInfo.status
    assert stop2.status == stop1.status
    sessions = await appliance.core.transactions.list()
    assert len(sessions) == 1 and sessions[0].energy_wh == 1000
    assert len(await appliance.core.transactions.samples(first.transactionId)) == 1


async def test_status_notifications_update_connector_and_history(appliance, cp, version):
    statuses = ("Available", "Occupied") if version == "1.5" else ("Available", "Preparing", "Charging")
    for status in statuses:
        assert await cp.status(1, status) is None
    await cp.status(2, "Faulted", "GroundFailure", vendorErrorCode="E42", info="earth leak", timestamp=now())
    connectors = {c.connector_number: c for c in await appliance.core.chargers.connectors("CP1")}
    assert connectors[1].status == statuses[-1]
    assert (connectors[2].status, connectors[2].error_code, connectors[2].vendor_error_code, connectors[2].info) == \
        ("Faulted", "GroundFailure", "E42", "earth leak")
    assert len(await appliance.core.chargers.status_history("CP1")) == len(statuses) + 1


async def test_firmware_and_diagnostics_status_are_recorded(appliance, cp):
    assert await cp.firmware_status("Downloaded") is None
    assert await cp.diagnostics_status("UploadFailed") is None
    record = await appliance.core.chargers.get("CP1")
    assert (record.firmware_status, record.diagnostics_status) == ("Downloaded", "UploadFailed")


async def test_data_transfer_reaches_the_vendors_handler(appliance, cp):
    from appliance.core.data_transfer import DataTransferAnswer

    assert (await cp.data_transfer("com.unknown", "hello", "x")).status == "UnknownVendorId"

    async def echo(identity, message_id, data):
        return DataTransferAnswer("Accepted", f"{identity}:{message_id}:{data}")

    appliance.core.data_transfers.register("com.example", echo)
    answer = await cp.data_transfer("com.example", "ping", "42")
    assert (answer.status, answer.data) == ("Accepted", "CP1:ping:42")


async def test_the_charger_address_is_learnt_from_from_and_follows_its_changes(appliance, cp):
    assert (await appliance.core.chargers.get("CP1")).endpoint_url == CALLBACK
    cp.addressing.address = "http://127.0.0.1:9/moved"
    await cp.heartbeat()
    assert (await appliance.core.chargers.get("CP1")).endpoint_url == "http://127.0.0.1:9/moved"
    cp.addressing.address = None  # a request without From leaves the address alone
    await cp.heartbeat()
    assert (await appliance.core.chargers.get("CP1")).endpoint_url == "http://127.0.0.1:9/moved"


@pytest.mark.parametrize("addressing, expected", [
    ('<a:ReplyTo><a:Address>http://127.0.0.1:9/reply</a:Address></a:ReplyTo>', "http://127.0.0.1:9/reply"),
    # the anonymous address means "answer on this connection": no address to call the charger at
    ('<a:From><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:From>', ""),
])
async def test_reply_to_is_used_without_from_and_anonymous_is_no_address(appliance, version, addressing, expected):
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    body = soap_request(version, "<o:heartbeatRequest/>").replace(b"</s:Header>", addressing.encode() + b"</s:Header>")
    await post_soap(appliance.url, version, body)
    assert (await appliance.core.chargers.get("CP1")).endpoint_url == expected


async def test_answers_carry_relates_to_and_the_response_action(appliance, version):
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    status, envelope = await post_soap(appliance.url, version, soap_request(
        version, "<o:heartbeatRequest/>", message_id="urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
        action="/Heartbeat"))
    assert status == 200
    headers = addressing_of(envelope)
    assert headers["RelatesTo"] == "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
    assert headers["Action"] == "/HeartbeatResponse"
    assert headers["MessageID"].startswith("urn:uuid:") and headers["MessageID"] != headers["RelatesTo"]
    assert headers["To"] == "http://www.w3.org/2005/08/addressing/anonymous"


async def test_charger_with_password_needs_it(appliance, version):
    await appliance.core.chargers.add("SEC1", PROTOCOLS[version], password="s3cret-passw0rd")
    body = soap_request(version, "<o:heartbeatRequest/>", identity="SEC1")
    for headers in ({}, basic_auth("SEC1", "wrong"), basic_auth("OTHER", "s3cret-passw0rd")):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{appliance.url}/ocpp/soap/{version}", data=body, headers=headers) as response:
                assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert await appliance.core.commlog.recent("SEC1") == []  # nothing processed, nothing logged
    cp = await charger(appliance, version, "SEC1", password="s3cret-passw0rd")
    assert (await cp.heartbeat()).tzinfo is not None


async def test_a_charger_not_accepted_may_only_boot(start_appliance, tmp_path, version):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers="pending"))
    cp = await charger(app, version, "NEW1", boot=False)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        await cp.heartbeat()
    assert refused.value.code.endswith(":Sender") and [str(c) for c in refused.value.subcodes] == ["SecurityError"]
    assert "BootNotification" in refused.value.message
    status, envelope = await post_soap(app.url, version, soap_request(version, "<o:heartbeatRequest/>", "NEW1"))
    assert status == 400 and fault_of(envelope)[:2] == ("soap12env:Sender", "SecurityError")
    assert (await cp.boot()).status in ("Pending", "Rejected")


async def test_every_request_and_answer_is_in_the_communication_log(appliance, cp):
    await cp.heartbeat()
    entries = await wait_for(lambda: _commlog_at_least(appliance, 4))
    assert [e.direction for e in reversed(entries)] == ["in", "out", "in", "out"]
    assert "bootNotificationRequest" in entries[-1].message and "heartbeatResponse" in entries[0].message


async def _commlog_at_least(appliance, n):
    entries = await appliance.core.commlog.recent("CP1")
    return entries if len(entries) >= n else None


async def test_every_request_keeps_the_charger_online(appliance, cp):
    assert appliance.core.chargers.live["CP1"].state == "online"
    before = appliance.core.chargers.live["CP1"].last_seen
    await cp.heartbeat()
    assert appliance.core.chargers.live["CP1"].last_seen > before
