"""The chargers pages of the web UI, read as HTML against the real app and virtual chargers on loopback:
the list and its filters, adding a charger (and what to type into it), accepting one that connected
unasked, each tab of a charger's page, commands from the actions tab, and the edit forms."""

from __future__ import annotations

import re
from html import unescape

import pytest
from ocpp.v16 import call

from appliance.config import load_settings
from appliance.core.secrets import verify_password
from appliance.tls import ensure_certificate
from appliance.web.keys import DLM
from appliance.web.ui.chargers_commands import BY_COMMAND
from appliance.core.link import COMMANDS
from appliance.web.ui.chargers_setup import central_system_url, certificate_fingerprint
from tests.conftest import add_fleet, make_settings, wait_for
from tests.ui_client import staff_client, text_of
from tests.virtual_charger import connect16


def words(html: str) -> str:
    """What a person reads, entities decoded (quotes in messages)."""
    return unescape(text_of(html))


def row_of(html: str, identity: str) -> str:
    """The text of the list's row for one charger ('' when it is not in the table)."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        if f'href="/chargers/{identity}"' in row:
            return text_of(row)
    return ""


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/chargers/([^"?/]+)"><strong>', html)


async def fault(cp, connector: int = 1, error: str = "GroundFailure") -> None:
    await cp.call(call.StatusNotification(connector_id=connector, error_code=error, status="Faulted"))


async def status(cp, connector: int, state: str) -> None:
    await cp.call(call.StatusNotification(connector_id=connector, error_code="NoError", status=state))


# -- the list ------------------------------------------------------------------------------------------

async def test_the_list_shows_each_charger_at_a_glance(appliance, cp, staff):
    core = appliance.core
    await core.chargers.add("CP2", "ocpp1.6-json", description="Bay 2, north wall")
    await core.chargers.add("CP3", "ocpp1.6-json")
    await status(cp, 1, "Available")
    async with connect16(appliance.url, "CP3") as cp3, connect16(appliance.url, "STRANGER", boot=False) as unknown:
        await fault(cp3)
        await unknown.boot()
        page, html = await staff.get("/chargers")
        assert page == 200
        assert listed(html) == ["CP1", "CP2", "CP3", "STRANGER"]
        cp1 = row_of(html, "CP1")
        assert "ocpp1.6-json" in cp1 and "accepted" in cp1 and "online" in cp1 and "last heard from" in cp1
        assert "Available" in cp1 and "Virtual VC-16" in cp1 and "1.0" in cp1
        assert "never connected" in row_of(html, "CP2") and "Bay 2, north wall" in row_of(html, "CP2")
        assert "Faulted · GroundFailure" in row_of(html, "CP3")
        stranger = row_of(html, "STRANGER")
        assert "pending" in stranger and "Accept" in stranger and "Reject" in stranger
        assert 'href="/chargers/new"' in html and "Add a charger" in html


async def test_the_list_filters_by_status_protocol_group_and_text(appliance, cp, staff):
    core = appliance.core
    await core.chargers.add("CP2", "ocpp1.6-json", description="spare by the gate")
    await core.chargers.add("CP3", "ocpp1.6-json")
    await core.chargers.add("OLD1", "ocpp1.5-soap")
    await core.chargers.add_group("North")
    await core.chargers.set_group("CP2", "North")
    cp.start_on_remote_start = True
    async with connect16(appliance.url, "CP3") as cp3, connect16(appliance.url, "STRANGER") as _:
        await fault(cp3)
        await status(cp3, 2, "Available")
        started = await cp.start_transaction("CARD1", 1)
        await status(cp, 1, "Charging")
        expected = {
            "status=faulted": ["CP3"], "status=charging": ["CP1"], "status=pending": ["STRANGER"],
            "status=never": ["CP2", "OLD1"], "status=available": ["CP3"], "protocol=ocpp1.5-soap": ["OLD1"],
            "group=North": ["CP2"], "q=gate": ["CP2"], "q=vc-16": ["CP1", "CP3", "STRANGER"],
            "status=never&protocol=ocpp1.6-json": ["CP2"],
        }
        for query, identities in expected.items():
            _, html = await staff.get(f"/chargers?{query}")
            assert listed(html) == identities, query
        _, html = await staff.get("/chargers?status=charging")
        assert f'href="/sessions/{started.transaction_id}"' in html
        # A filter that makes no sense says so and shows everything.
        _, html = await staff.get("/chargers?status=sleeping")
        assert "no status filter 'sleeping'" in words(html) and len(listed(html)) == 5


async def test_offline_chargers_are_those_temporarily_or_long_unavailable(appliance, staff):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    await appliance.core.chargers.add("CP2", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1"):
        pass  # it hung up
    await wait_for(lambda: appliance.core.chargers.live["CP1"].state == "temporarily_unavailable")
    _, html = await staff.get("/chargers?status=offline")
    assert listed(html) == ["CP1"] and "temporarily unavailable" in row_of(html, "CP1")


async def test_the_table_refreshes_live_from_a_fragment_keeping_the_filters(appliance, cp, staff):
    _, html = await staff.get("/chargers?status=faulted&q=CP")
    region = re.search(r'<div id="chargers-table" data-live-src="([^"]+)" data-live-on="([^"]+)"', html)
    assert region.group(2) == "connection status charger session"
    src = region.group(1).replace("&amp;", "&")
    assert src == "/chargers?status=faulted&q=CP&part=table"
    _, fragment = await staff.get(src)
    assert "<html" not in fragment and listed(fragment) == []
    await fault(cp)
    _, fragment = await staff.get(src)
    assert listed(fragment) == ["CP1"] and "Faulted" in fragment


# -- adding a charger ----------------------------------------------------------------------------------

async def test_adding_a_charger_shows_its_generated_password_once_and_keeps_only_a_hash(appliance, staff):
    page, html = await staff.post("/chargers/new", {"identity": "BAY7", "protocol": "ocpp1.6-json",
                                                    "description": "Bay 7", "generate": "yes"})
    assert page == 200
    password = re.search(r'<code class="copy secret" id="password">([^<]+)</code>', html).group(1)
    assert len(password) == 24
    record = await appliance.core.chargers.get("BAY7")
    assert (record.protocol, record.registration, record.description) == ("ocpp1.6-json", "accepted", "Bay 7")
    assert password not in record.password_hash and verify_password(password, record.password_hash)
    words = text_of(html)
    host = appliance.url.split("://")[1]
    assert f"ws://{host}/ocpp/" in words and f"ws://{host}/ocpp/BAY7" in words
    assert "Security profile 1" in words and "Write the password down now" in words
    # Shown once: nowhere on the charger's page, nor in the audit log.
    _, page_html = await staff.get("/chargers/BAY7")
    assert password not in page_html
    [entry] = [a for a in await appliance.core.accounts.audit_log() if a.action == "added charger BAY7"]
    assert password not in entry.detail
    # The charger connects with it.
    async with connect16(appliance.url, "BAY7", password=password) as bay7:
        assert bay7 is not None
    await wait_for(lambda: appliance.core.chargers.live["BAY7"].last_seen_at)


async def test_a_soap_charger_is_told_the_public_address(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", public_url="http://10.0.0.2:8180"))
    staff = await staff_client(app)
    try:
        _, html = await staff.post("/chargers/new", {"identity": "OLD1", "protocol": "ocpp1.6-soap",
                                                     "password": "typed-password-1234"})
        words = text_of(html)
        assert "http://10.0.0.2:8180/ocpp/soap/1.6" in words and "typed-password-1234" in words
        assert "WS-Addressing" in words
        assert verify_password("typed-password-1234", (await app.core.chargers.get("OLD1")).password_hash)
    finally:
        await staff.close()


async def test_the_loopback_address_is_flagged_as_unreachable_for_chargers(appliance, staff):
    _, html = await staff.post("/chargers/new", {"identity": "BAY8", "protocol": "ocpp2.0.1", "generate": "yes"})
    assert "a charger cannot reach it there" in text_of(html)


@pytest.mark.parametrize("protocol, tls, base, expected", [
    ("ocpp1.6-json", False, "http://10.0.0.2:8180", ("ws://10.0.0.2:8180/ocpp/", "ws://10.0.0.2:8180/ocpp/CP1")),
    ("ocpp2.0.1", True, "https://depot.example", ("wss://depot.example/ocpp/", "wss://depot.example/ocpp/CP1")),
    ("ocpp1.6-json", False, "https://depot.example", ("wss://depot.example/ocpp/", "wss://depot.example/ocpp/CP1")),
    ("ocpp1.5-soap", False, "http://10.0.0.2:8180/", ("http://10.0.0.2:8180/ocpp/soap/1.5", "")),
    ("ocpp1.6-soap", True, "http://box:8180", ("https://box:8180/ocpp/soap/1.6", "")),  # TLS on: the box serves https
    ("ocpp1.6-json", False, "http://proxy/depot/", ("ws://proxy/depot/ocpp/", "ws://proxy/depot/ocpp/CP1")),
])
def test_the_central_system_address_per_protocol(tmp_path, protocol, tls, base, expected):
    settings = load_settings(dict(data_dir=tmp_path, tls=tls), environ={})
    assert central_system_url(settings, protocol, "CP1", base) == expected


async def test_with_tls_the_certificate_fingerprint_is_given(tmp_path):
    settings = load_settings(dict(data_dir=tmp_path, tls=True), environ={})
    fingerprint, problem = await certificate_fingerprint(settings)
    assert fingerprint == "" and "cannot read the TLS certificate" in problem  # none yet: said, not made
    assert not (tmp_path / "tls" / "cert.pem").exists()  # the page never makes one
    made = ensure_certificate(settings)
    assert await certificate_fingerprint(settings) == (made.sha256_fingerprint, "")
    assert await certificate_fingerprint(load_settings(dict(data_dir=tmp_path), environ={})) == ("", "")


@pytest.mark.parametrize("fields, field, message", [
    ({"identity": "CP1"}, "identity", "Charger CP1 already exists."),
    ({"identity": "bay 7"}, "identity", "Charger id: a charger id may not contain ' '"),
    ({"identity": ""}, "identity", "Charger id: please fill this in"),
    ({"identity": "new"}, "identity", "is the name of the add-a-charger page"),
    ({"password": "short", "generate": ""}, "password", "Password: 16 to 40 characters, as OCPP asks (this one has 5)"),
    ({"password": "", "generate": ""}, "password", "Password: type one (16 to 40 characters) or tick 'generate one'"),
    ({"protocol": "ocpp9"}, "protocol", "Protocol: choose one of"),
])
async def test_bad_input_to_the_add_form_is_shown_at_its_field(appliance, staff, fields, field, message):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    form = {"identity": "BAY9", "protocol": "ocpp1.6-json", "generate": "yes", **fields}
    page, html = await staff.post("/chargers/new", form)
    assert page == 400 and message in words(html)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', html)  # the message sits at its field
    assert [c.identity for c in await appliance.core.chargers.list()] == ["CP1"]


# -- registration --------------------------------------------------------------------------------------

async def test_a_charger_that_connected_unasked_is_accepted_from_the_list(appliance, staff):
    async with connect16(appliance.url, "STRANGER") as stranger:
        assert (await appliance.core.chargers.get("STRANGER")).registration == "pending"
        page, html = await staff.post("/chargers/STRANGER/registration",
                                      {"registration": "accepted", "next": "/chargers?status=pending"})
        assert page == 200 and "STRANGER is accepted" in text_of(html)
        assert listed(html) == []  # back on the filtered list, where it is no longer pending
        assert (await appliance.core.chargers.get("STRANGER")).registration == "accepted"
        assert (await stranger.boot()).status == "Accepted"
    _, html = await staff.post("/chargers/STRANGER/registration", {"registration": "rejected"})
    assert "STRANGER is rejected" in text_of(html) and "<h1>STRANGER" in html
    assert (await appliance.core.chargers.get("STRANGER")).registration == "rejected"


# -- a charger's page -----------------------------------------------------------------------------------

async def test_every_tab_of_a_charger_renders(appliance, cp, staff):
    await status(cp, 1, "Available")
    expected = {"overview": ["Status", "Connectors", "What it can be asked", "Live", "Virtual", "SN-1"],
                "actions": ["Commands", "Start charging", "Action log"],
                "status": ["Status history", "Available"],
                "messages": ["Messages", "BootNotification"],
                "diagnostics": ["Firmware and diagnostics", "Reports", "Device model"],
                "local-list": ["Local authorization list", "No list has been sent to CP1 yet"],
                "load": ["Load management", "not in any circuit"],
                "edit": ["Description", "Group", "Who may charge here", "Password"]}
    for tab, words in expected.items():
        page, html = await staff.get(f"/chargers/CP1?tab={tab}")
        assert page == 200, tab
        assert f'href="/chargers/CP1?tab={tab}" aria-current="page"' in html, tab
        for word in words:
            assert word in text_of(html), (tab, word)
    _, html = await staff.get("/chargers/CP1?tab=messages&limit=50")
    assert '<pre class="raw">' in html and "→ in (from charger)" in text_of(html)


async def test_the_overview_refreshes_live_and_lists_the_chargers_events(appliance, cp, staff):
    _, html = await staff.get("/chargers/CP1")
    assert ('data-live-src="/chargers/CP1?part=status" data-live-on="status:CP1 connection:CP1 session:CP1 '
            'charger:CP1 meter:CP1"') in " ".join(html.split())
    assert '<ul id="live-feed" class="feed" data-identity="CP1"' in html
    assert "CP1 connected (ocpp1.6-json)" in text_of(html)  # the recent lines of this charger
    await fault(cp, 1, "OverCurrentFailure")
    await status(cp, 2, "Charging")
    tx = await cp.start_transaction("CARD1", 2, meter_start=1000)
    await cp.meter_values(tx.transaction_id, 3500, connector_id=2)
    _, fragment = await staff.get("/chargers/CP1?part=status")
    assert "<html" not in fragment
    words = text_of(fragment)
    assert "Faulted · OverCurrentFailure" in words
    assert f"session {tx.transaction_id} · CARD1 · 2.50 kWh" in words


async def test_an_unknown_charger_is_a_not_found_page(appliance, staff):
    page, html = await staff.get("/chargers/NOPE?tab=actions")
    assert page == 404 and "There is no charger NOPE here" in text_of(html)


async def test_a_charger_that_cannot_be_commanded_says_so(appliance, staff):
    await appliance.core.chargers.add("OLD1", "ocpp1.6-soap", endpoint_url="http://10.9.9.9:1/ocpp")
    await appliance.core.chargers.update("OLD1", "unreachable", reachable="no",
                                         reachable_detail="connection refused")
    _, html = await staff.get("/chargers/OLD1")
    assert "Can report, cannot be commanded: connection refused" in text_of(html)
    assert "read charging profiles" in text_of(html).split("Not supported by this charger's protocol:")[1]


# -- commands from the actions tab -------------------------------------------------------------------

def test_every_chargerlink_command_has_a_form():
    assert set(BY_COMMAND) == set(COMMANDS)


async def test_remote_start_stop_and_reset_from_the_actions_tab(appliance, cp, staff):
    cp.start_on_remote_start = True
    page, html = await staff.post("/chargers/CP1/commands/remote_start",
                                  {"connector_number": "1", "id_tag": "CARD1", "reason": "driver's app is down"})
    assert page == 200 and "CP1 answered Accepted." in words(html)
    assert cp.last("RemoteStartTransaction") == {"connector_id": 1, "id_tag": "CARD1"}
    await wait_for(lambda: cp.remote_started)
    tx = cp.remote_started[0].transaction_id
    # The stop form offers the open session.
    _, html = await staff.get("/chargers/CP1?tab=actions")
    assert re.search(rf'id="remote_stop-transaction_id" name="transaction_id" type="number" min="1" value="{tx}"',
                     html)
    page, html = await staff.post("/chargers/CP1/commands/remote_stop",
                                  {"transaction_id": str(tx), "reason": "car must leave"})
    assert page == 200 and "CP1 answered Accepted." in words(html)
    assert cp.last("RemoteStopTransaction") == {"transaction_id": tx}
    page, html = await staff.post("/chargers/CP1/commands/reset", {"type": "hard", "reason": "frozen display"})
    assert page == 200 and "CP1 answered Accepted." in words(html)
    assert cp.last("Reset") == {"type": "Hard"}
    log = await appliance.core.commands.actions("CP1")
    assert [(a.action, a.actor, a.reason, a.result_status) for a in log] == [
        ("reset", "web:admin-user", "frozen display", "Accepted"),
        ("remote_stop", "web:admin-user", "car must leave", "Accepted"),
        ("remote_start", "web:admin-user", "driver's app is down", "Accepted")]
    assert "frozen display" in words(html).split("Action log")[1]  # the log under the forms
    audit = [a.action for a in await appliance.core.accounts.audit_log()]
    assert "sent reset to charger CP1: Accepted" in audit


async def test_a_command_without_a_reason_is_refused_and_not_sent(appliance, cp, staff):
    page, html = await staff.post("/chargers/CP1/commands/reset", {"type": "soft", "reason": " "})
    assert page == 400 and "Reason: please fill this in" in words(html)
    assert 'id="reset-reason"' in html and 'aria-describedby="reset-reason-error"' in html
    assert re.search(r'<details class="command card" id="cmd-reset" open>', html)
    assert not [a for a, _ in cp.received if a == "Reset"]
    assert await appliance.core.commands.actions("CP1") == []


@pytest.mark.parametrize("command, fields, message", [
    ("unlock", {"connector_number": "0"}, "Connector: at least 1"),
    ("remote_start", {"connector_number": "1", "id_tag": ""}, "Tag: please fill this in"),
    ("reserve_now", {"connector_number": "1", "id_tag": "CARD1", "expires_at": "tomorrow", "reservation_id": "1"},
     "Until: 'tomorrow' is not a date and time"),
    ("send_local_list", {"version": "2", "update": "full", "entries": "CARD1 Maybe"}, "Entries, line 1: write TAG"),
    ("set_charging_limit", {"limit": "abc", "unit": "A", "connector_number": "0", "purpose": "TxDefaultProfile",
                            "stack_level": "0", "profile_id": "1"}, "Limit: 'abc' is not a number"),
])
async def test_bad_command_arguments_are_shown_at_their_field(appliance, cp, staff, command, fields, message):
    page, html = await staff.post(f"/chargers/CP1/commands/{command}", {**fields, "reason": "testing"})
    assert page == 400 and message in words(html)
    assert await appliance.core.commands.actions("CP1") == []


async def test_a_charger_that_is_not_connected_is_said_to_be_so(appliance, staff):
    await appliance.core.chargers.add("CP2", "ocpp1.6-json")
    _, html = await staff.get("/chargers/CP2?tab=actions")
    assert "CP2 is not connected: commands cannot reach it now" in words(html)
    page, html = await staff.post("/chargers/CP2/commands/reset", {"type": "soft", "reason": "nightly"})
    assert page == 200 and "CP2 is not connected: nothing was sent." in words(html)
    [entry] = await appliance.core.commands.actions("CP2")
    assert (entry.reason, entry.result_status) == ("nightly", "Offline")


async def test_a_command_the_protocol_lacks_is_not_supported_by_this_charger(appliance, cp, staff):
    _, html = await staff.get("/chargers/CP1?tab=actions")
    summary = re.search(r'id="cmd-get_charging_profiles">\s*<summary>(.*?)</summary>', html, re.S).group(1)
    assert "not supported by this charger" in summary
    page, html = await staff.post("/chargers/CP1/commands/get_charging_profiles", {"reason": "check"})
    assert page == 200 and "Not supported by this charger" in words(html)
    assert "GetChargingProfiles is 2.0.1" in words(html)


async def test_the_answer_data_is_shown(appliance, cp, staff):
    _, html = await staff.post("/chargers/CP1/commands/get_configuration",
                               {"keys": "HeartbeatInterval, NoSuchKey", "reason": "check interval"})
    assert cp.last("GetConfiguration") == {"key": ["HeartbeatInterval", "NoSuchKey"]}
    assert ('<td data-label="Key"><span>HeartbeatInterval</span></td><td data-label="Value"><span>300</span></td>'
            in html)
    assert "Unknown to the charger: NoSuchKey" in words(html)
    cp.answers["ChangeConfiguration"] = "Rejected"
    _, html = await staff.post("/chargers/CP1/commands/change_configuration",
                               {"key": "HeartbeatInterval", "value": "60", "reason": "faster"})
    assert "CP1 answered Rejected: it did not do it." in words(html)
    _, html = await staff.post("/chargers/CP1/commands/send_local_list",
                               {"version": "7", "update": "differential", "reason": "by hand",
                                "entries": "CARD1 accepted 2030-01-31\nCARD9 Blocked\n\nOLD1 remove"})
    assert "CP1 answered Accepted." in words(html)
    sent = cp.last("SendLocalList")
    assert (sent["list_version"], sent["update_type"]) == (7, "Differential")
    assert [(e["id_tag"], e.get("id_tag_info", {}).get("status")) for e in sent["local_authorization_list"]] == [
        ("CARD1", "Accepted"), ("CARD9", "Blocked"), ("OLD1", None)]
    assert sent["local_authorization_list"][0]["id_tag_info"]["expiry_date"].startswith("2030-02-01T00:00:00")
    _, html = await staff.post("/chargers/CP1/commands/data_transfer",
                               {"vendor_id": "com.example", "data": "ping", "reason": "probe"})
    assert '"data": "pong"' in unescape(html)


async def test_a_viewer_sees_no_forms_and_is_refused(appliance, cp):
    viewer = await staff_client(appliance, "viewer")
    try:
        _, html = await viewer.get("/chargers/CP1?tab=actions")
        assert "/commands/" not in html and "needs the operator role" in words(html)
        assert "Action log" in words(html)
        _, html = await viewer.get("/chargers")
        assert "Add a charger" not in html
        _, html = await viewer.get("/chargers/CP1")
        assert 'tab=edit"' not in html
        page, html = await viewer.post("/chargers/CP1/commands/reset", {"type": "hard", "reason": "mischief"})
        assert page == 403 and "it needs the operator role" in words(html)
        page, _ = await viewer.post("/chargers/new", {"identity": "X1", "protocol": "ocpp1.6-json", "generate": "yes"})
        assert page == 403
    finally:
        await viewer.close()
    assert not [a for a, _ in cp.received if a == "Reset"]
    assert await appliance.core.chargers.get("X1") is None


# -- local list, load, edit ---------------------------------------------------------------------------------

async def test_the_local_list_is_synced_from_its_tab(appliance, cp, staff):
    page, html = await staff.post("/chargers/CP1/local-list/sync", {"full": "yes", "reason": ""})
    assert page == 200 and "The local list of CP1 is in step: version 1, 1 tags" in words(html)
    assert cp.local_list == {"CARD1": "Accepted"}
    text = words(html)
    assert "Tags on the charger 1" in text and "Nothing: the charger's list is what the rules say." in text
    assert '<a href="/tags/CARD1">CARD1</a>' in html
    await appliance.core.users.add_tag("CARD2", "alice")
    _, html = await staff.get("/chargers/CP1?tab=local-list")
    assert "CARD2 : missing → Accepted" in words(html)
    [entry, *_] = await appliance.core.commands.actions("CP1")
    assert entry.reason == "asked for by admin-user in the web UI"


async def test_a_failed_sync_says_why(appliance, staff):
    await appliance.core.chargers.add("CP2", "ocpp1.6-json")
    _, html = await staff.post("/chargers/CP2/local-list/sync", {})
    assert "The local list of CP2 is not in step: GetLocalListVersion: Offline" in words(html)


async def test_the_load_tab_shows_a_flagged_charger_and_clears_its_flag(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", dlm_min_interval_s=0.0))
    await add_fleet(app.core)
    await app.core.circuits.add("main", 40.0, 3)
    await app.core.chargers.add("BAD1", "ocpp1.6-json")
    await app.core.circuits.assign("main", "BAD1", phases=3)
    dlm = app.server.app[DLM]
    staff = await staff_client(app)
    try:
        async with connect16(app.url, "BAD1") as bad:
            bad.answers["SetChargingProfile"] = "Rejected"
            await wait_for(lambda: any(e["flag"] for c in dlm.circuit_status() for e in c["evses"]))
            _, html = await staff.get("/chargers/BAD1?tab=load")
            text = words(html)
            assert "BAD1 is wired to main (every EVSE" in text and "rejects limits" in text
            assert "Circuit main" in text and "40.0 A per phase" in text
            bad.answers.pop("SetChargingProfile")
            page, html = await staff.post("/chargers/BAD1/load-flag/clear", {"evse": "1"})
            assert page == 200 and "BAD1's limits are trusted again (1 EVSE(s))" in words(html)
            assert not any(e["flag"] for c in dlm.circuit_status() for e in c["evses"])
            _, html = await staff.post("/chargers/BAD1/load-flag/clear", {"evse": "1"})
            assert "BAD1 had no flag to clear." in words(html)
    finally:
        await staff.close()


async def test_the_load_tab_without_load_management(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", load_management=False))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    staff = await staff_client(app)
    try:
        _, html = await staff.get("/chargers/CP1?tab=load")
        assert "Load management is off" in words(html)
    finally:
        await staff.close()


async def test_description_group_and_access_are_edited(appliance, cp, staff):
    core = appliance.core
    await core.users.add_company("Green Cabs")
    _, html = await staff.post("/chargers/CP1/description", {"description": "Bay 1 by the gate"})
    assert "The description of CP1 is saved." in words(html)
    assert (await core.chargers.get("CP1")).description == "Bay 1 by the gate"
    _, html = await staff.post("/chargers/CP1/group", {"group": "", "new_group": "North"})
    assert "CP1 is in group North." in words(html)
    assert [(g.name, g.chargers) for g in await core.chargers.groups()] == [("North", ["CP1"])]
    page, html = await staff.post("/chargers/CP1/group", {"group": "", "new_group": "North"})
    assert page == 400 and "Group: group North already exists" in words(html)
    _, html = await staff.post("/chargers/CP1/group", {"group": ""})
    assert "CP1 is in no group." in words(html)
    _, html = await staff.post("/chargers/CP1/access", {"company": "Green Cabs"})
    assert "CP1 is open to Green Cabs only" in words(html)
    assert await core.chargers.access("CP1") == ["Green Cabs"]
    page, html = await staff.post("/chargers/CP1/access", {"company": "Nobody Ltd"})
    assert page == 400 and "Access: no company Nobody Ltd" in words(html)
    assert await core.chargers.access("CP1") == ["Green Cabs"]
    _, html = await staff.post("/chargers/CP1/access", {})
    assert "CP1 is open to the whole depot" in words(html)
    assert await core.chargers.access("CP1") == []
    page, html = await staff.post("/chargers/CP1/description", {"description": "x" * 201})
    assert page == 400 and "Description: at most 200 characters" in words(html)


async def test_a_new_password_is_shown_once_and_a_short_one_refused(appliance, cp, staff):
    page, html = await staff.post("/chargers/CP1/password", {"password": "too-short"})
    assert page == 400 and "Password: 16 to 40 characters" in words(html)
    assert (await appliance.core.chargers.get("CP1")).password_hash is None
    page, html = await staff.post("/chargers/CP1/password", {"password": "a-new-password-for-cp1"})
    assert page == 200 and "The password of CP1 is changed" in words(html) and "a-new-password-for-cp1" in html
    assert verify_password("a-new-password-for-cp1", (await appliance.core.chargers.get("CP1")).password_hash)
    audit = next(a for a in await appliance.core.accounts.audit_log()
                 if a.action == "changed the password of charger CP1")
    assert "a-new-password-for-cp1" not in audit.detail


async def test_a_soap_chargers_command_address_is_set(appliance, staff):
    await appliance.core.chargers.add("OLD1", "ocpp1.6-soap")
    page, html = await staff.post("/chargers/OLD1/endpoint", {"endpoint_url": "ftp://nowhere"})
    assert page == 400 and "Command address: an endpoint must be an http:// or https:// URL" in words(html)
    _, html = await staff.post("/chargers/OLD1/endpoint", {"endpoint_url": "http://10.0.0.31:8080/ocpp"})
    assert "OLD1 is commanded at http://10.0.0.31:8080/ocpp." in words(html)
    assert (await appliance.core.chargers.get("OLD1")).endpoint_url == "http://10.0.0.31:8080/ocpp"


async def test_a_201_stations_layout_and_device_model_are_shown(appliance, cs, staff):
    _, html = await staff.get("/chargers/CS1")
    connectors = words(html).split("Connectors")[1]
    assert "AC · cType2 · 3 phases 22.0 kW" in connectors and "DC · cCCS2 50.0 kW" in connectors
    assert "Not supported by this charger's protocol" not in words(html)
    _, html = await staff.get("/chargers/CS1?tab=diagnostics&component=OCPPCommCtrlr")
    table = words(html).split("Device model")[1]
    assert "OCPPCommCtrlr HeartbeatInterval Actual 300 s ReadWrite" in table
    assert "TxCtrlr" not in table.split("Every component")[1].split("Component Variable")[1]
    _, html = await staff.get("/chargers/CS1?tab=actions&command=get_charging_profiles")
    assert '<details class="command card" id="cmd-get_charging_profiles" open>' in html
    assert "not supported by this charger" not in html
