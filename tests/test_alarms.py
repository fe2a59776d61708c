"""Alarms over loopback: virtual chargers that drop off or fault raise alarms within the configured
times and clear them when they recover; one open alarm per condition; acknowledged through the API
and the CLI (whose change the running server tells on its bus)."""

from __future__ import annotations

from appliance.core.events import AlarmChanged
from tests.conftest import make_settings, run_cli, wait_for
from tests.virtual_charger import connect16


def recording(app) -> list[AlarmChanged]:
    seen: list[AlarmChanged] = []
    app.core.bus.subscribe(AlarmChanged, seen.append)
    return seen


async def open_alarms(app, kind: str, identity: str = "CP1"):
    return [a for a in await app.core.alarms.open(identity) if a.kind == kind]


async def test_a_charger_that_drops_off_is_offline_then_long_term_and_both_clear_when_it_is_back(start_appliance,
                                                                                                 tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", offline_after_s=0.4, offline_long_term_after_s=1.0,
                                              heartbeat_interval_s=1))
    seen = recording(app)
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1"):
        pass  # connected, booted, gone
    offline = await wait_for(lambda: open_alarms(app, "charger_offline"), timeout=5)
    assert not await open_alarms(app, "charger_offline_long_term")  # not yet: it is only temporarily gone
    long_term = await wait_for(lambda: open_alarms(app, "charger_offline_long_term"), timeout=5)
    assert (offline[0].severity, long_term[0].severity) == ("warning", "critical")
    async with connect16(app.url, "CP1"):
        await wait_for(lambda: _none_open(app), timeout=5)
    cleared = await app.core.alarms.get(offline[0].id)
    assert cleared.cleared_reason == "the charger is back online"
    await app.core.bus.drain()
    assert [(e.kind, e.change) for e in seen] == [
        ("charger_offline", "raised"), ("charger_offline_long_term", "raised"),
        ("charger_offline", "cleared"), ("charger_offline_long_term", "cleared")]


async def _none_open(app):
    return not await app.core.alarms.open("CP1")


async def test_an_online_charger_raises_nothing(start_appliance, tmp_path):
    import asyncio

    app = await start_appliance(make_settings(tmp_path / "d", offline_after_s=0.3, offline_long_term_after_s=0.6,
                                              heartbeat_interval_s=5))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1"):
        await asyncio.sleep(1.0)  # several supervision rounds, well within its heartbeat interval
        assert not await app.core.alarms.open()


async def test_a_faulted_connector_raises_one_alarm_with_its_words_and_clears_when_available(appliance):
    seen = recording(appliance)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "GroundFailure", info="RCD tripped", vendor_error_code="E42")
        alarm = (await wait_for(lambda: open_alarms(appliance, "connector_faulted")))[0]
        assert (alarm.severity, alarm.connector_number, alarm.title) == ("critical", 1,
                                                                         "CP1 connector 1 is faulted (GroundFailure)")
        assert "vendor code E42" in alarm.detail and "RCD tripped" in alarm.detail
        await cp.status_notification(1, "Faulted", "GroundFailure", info="RCD tripped", vendor_error_code="E42")
        await cp.status_notification(1, "Faulted", "GroundFailure", info="RCD tripped", vendor_error_code="E43")
        await appliance.core.bus.drain()
        again = await open_alarms(appliance, "connector_faulted")
        assert [a.id for a in again] == [alarm.id] and "E43" in again[0].detail  # updated, not a second one
        await cp.status_notification(1, "Available")
        await wait_for(lambda: _none_open(appliance))
    await appliance.core.bus.drain()
    assert [e.change for e in seen if e.kind == "connector_faulted"] == ["raised", "updated", "cleared"]
    assert seen[0].identity == "CP1" and seen[0].alarm_id == alarm.id


async def test_acknowledged_through_the_api(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await cp.status_notification(2, "Faulted", "PowerMeterFailure")
        alarm = (await wait_for(lambda: open_alarms(appliance, "connector_faulted")))[0]
    status, listed = await appliance.api("GET", "/api/v1/alarms?kind=connector_faulted&charger=CP1")
    assert status == 200 and [a["id"] for a in listed] == [alarm.id] and listed[0]["open"]
    status, acked = await appliance.api("POST", f"/api/v1/alarms/{alarm.id}/ack", {"note": "on my way", "by": "kim"})
    assert status == 200, acked
    assert acked["acknowledged"]["by"] == "api:tests (kim)" and acked["acknowledged"]["note"] == "on my way"
    status, shown = await appliance.api("GET", f"/api/v1/alarms/{alarm.id}")
    assert shown["acknowledged"]["note"] == "on my way" and shown["open"]  # seen to, but the fault is still there
    assert (await appliance.api("GET", "/api/v1/alarms/999"))[0] == 404
    status, refused = await appliance.api("GET", "/api/v1/alarms?kind=volcano")
    assert status == 400 and "unknown alarm kind" in refused["error"]


async def test_acknowledged_with_the_cli_which_the_running_server_tells(start_appliance, tmp_path):
    data_dir = tmp_path / "d"
    app = await start_appliance(make_settings(data_dir))
    seen = recording(app)
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "HighTemperature")
        alarm = (await wait_for(lambda: open_alarms(app, "connector_faulted")))[0]
    listed = await run_cli(data_dir, "alarm", "list")
    assert "CP1 connector 1 is faulted (HighTemperature)" in listed and "critical" in listed
    out = await run_cli(data_dir, "alarm", "ack", str(alarm.id), "--note", "fan replaced tomorrow", "--by", "sam")
    assert out.strip() == f"alarm {alarm.id} acknowledged by sam: CP1 connector 1 is faulted (HighTemperature)"
    await wait_for(lambda: any(e.change == "acknowledged" for e in seen))  # the journal's tail
    import json

    shown = json.loads(await run_cli(data_dir, "alarm", "show", str(alarm.id), "--json"))
    assert shown["acknowledged"]["by"] == "sam" and shown["acknowledged"]["note"] == "fan replaced tomorrow"


async def test_the_cli_says_what_is_wrong_without_a_traceback(tmp_path):
    import asyncio
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "--data-dir", str(tmp_path / "d"), "alarm", "ack", "42",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 1 and err.decode().strip() == "Error: no alarm 42"


async def test_a_stuck_session_raises_an_alarm_that_the_next_session_clears(start_appliance, tmp_path):
    from tests.conftest import add_fleet

    app = await start_appliance(make_settings(tmp_path / "d", stuck_transaction_after_s=1))
    await add_fleet(app.core)
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        tx = (await cp.start_transaction("CARD1", meter_start=100)).transaction_id
        alarm = (await wait_for(lambda: open_alarms(app, "transaction_stuck"), timeout=10))[0]
        assert f"session {tx} was stuck" in alarm.title
        await cp.start_transaction("CARD1", meter_start=200)
        await wait_for(lambda: _none_open(app))


async def test_the_rounds_look_at_head_office_the_readers_and_local_lists(start_appliance, tmp_path):
    from appliance.store import billing as billing_store
    from appliance.store import local_lists as list_store

    app = await start_appliance(make_settings(tmp_path / "d", head_office_alarm_after_s=0))
    core = app.core
    core.alarm_watch.slow_look_every_s = 0
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.db.write(billing_store.set_head_office, url="http://127.0.0.1:9/", failures=3, last_error="refused")
    readers = [(1, "/dev/ttyUSB0", "unplugged", "/dev/ttyUSB0: no such device")]
    core.alarm_watch.reader_states = lambda: readers
    async with connect16(app.url, "CP1"):
        charger = await core.chargers.require("CP1")
        await core.db.write(list_store.save, charger.id, error="SendLocalList version 2: Rejected")
        await core.alarm_watch.look()
        kinds = {a.kind: a for a in await core.alarms.open()}
        assert {"head_office_sync_failing", "reader_unplugged", "local_list_out_of_sync"} <= set(kinds)
        assert "refused" in kinds["head_office_sync_failing"].detail
        assert kinds["reader_unplugged"].title == "RFID reader /dev/ttyUSB0 is unplugged"
        await core.db.write(billing_store.set_head_office, failures=0, last_error="")
        readers[0] = (1, "/dev/ttyUSB0", "connected", "")
        await core.db.write(list_store.save, charger.id, error="")
        await core.alarm_watch.look()
        left = {a.kind for a in await core.alarms.open()}
        assert not left & {"head_office_sync_failing", "reader_unplugged", "local_list_out_of_sync"}


async def test_load_managements_flag_raises_an_alarm_per_evse_until_it_is_cleared(appliance):
    from appliance.core.events import ChargerReported

    core = appliance.core
    core.bus.publish(ChargerReported("CP1", "load_limit_ignores",
                                     "EVSE 2: drew 31.0 A on L1 against a limit of 16.0 A"))
    core.bus.publish(ChargerReported("CP1", "load_limit_rejects", "EVSE 1: answered Rejected"))
    await core.bus.drain()
    found = {a.connector_number: a for a in await core.alarms.open("CP1")}
    assert found[2].title == "CP1 EVSE 2 ignores its charging limits" and "31.0 A" in found[2].detail
    assert found[1].title == "CP1 EVSE 1 refuses its charging limits"
    core.bus.publish(ChargerReported("CP1", "load_limit_cleared", "EVSE 2: trusted again"))
    await core.bus.drain()
    assert [a.connector_number for a in await core.alarms.open("CP1")] == [1]  # EVSE 1 is still flagged


def test_the_live_view_tells_alarm_changes():
    from appliance.web.ui.live import describe

    line = describe(AlarmChanged(7, "connector_faulted", "critical", "CP1", "CP1 connector 1 is faulted", "", "raised"))
    assert (line.kind, line.identity, line.severity) == ("alarm", "CP1", "fault")
    assert line.text == "alarm 7 raised: CP1 connector 1 is faulted"
    line = describe(AlarmChanged(8, "disk_filling", "warning", None, "the disk is filling", "", "cleared"))
    assert (line.identity, line.severity) == ("", "ok")
