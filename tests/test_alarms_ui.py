"""Alarms and the maintenance log in the web UI, read as HTML: the dashboard's open alarms, the alarms
page and its acknowledgement form, a charger's page and its Maintenance tab."""

from __future__ import annotations

import html

from tests.conftest import wait_for
from tests.ui_client import staff_client, text_of
from tests.virtual_charger import connect16


async def faulted_alarm(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "GroundFailure", vendor_error_code="E42")
        alarms = await wait_for(lambda: appliance.core.alarms.open("CP1"))
    return alarms[0]


async def test_the_dashboard_shows_open_alarms_and_the_alarm_page_takes_an_acknowledgement(appliance, staff):
    alarm = await faulted_alarm(appliance)
    status, page = await staff.get("/")
    assert status == 200 and f'href="/alarms/{alarm.id}"' in page
    assert 'data-live-src="/dashboard/alarms" data-live-on="alarm"' in page  # refreshed when an alarm changes
    assert "CP1 connector 1 is faulted (GroundFailure)" in text_of(page)
    status, fragment = await staff.get("/dashboard/alarms")  # what the live view fetches on an alarm event
    assert status == 200 and "CP1 connector 1 is faulted" in text_of(fragment)
    status, listed = await staff.get("/alarms")
    assert status == 200 and "not yet" in text_of(listed)
    status, page = await staff.get(f"/alarms/{alarm.id}")
    assert "vendor code E42" in html.unescape(text_of(page)) and 'action="/alarms/' in page
    status, page = await staff.post(f"/alarms/{alarm.id}/ack", {"note": "electrician called"})
    words = html.unescape(text_of(page))
    assert status == 200 and f"Alarm {alarm.id} is acknowledged" in words
    assert "by admin-user" in words and "electrician called" in words
    assert (await appliance.core.alarms.get(alarm.id)).acknowledged_by == "admin-user"


async def test_a_viewer_sees_alarms_but_cannot_acknowledge(appliance):
    alarm = await faulted_alarm(appliance)
    viewer = await staff_client(appliance, "viewer")
    try:
        status, page = await viewer.get(f"/alarms/{alarm.id}")
        assert status == 200 and 'action="/alarms/' not in page
        status, _ = await viewer.post(f"/alarms/{alarm.id}/ack", {"note": "mine"})
        assert status == 403
    finally:
        await viewer.close()
    assert (await appliance.core.alarms.get(alarm.id)).acknowledged_at is None


async def test_the_charger_page_shows_its_alarms_and_keeps_its_maintenance_log(appliance, staff):
    alarm = await faulted_alarm(appliance)
    status, page = await staff.get("/chargers/CP1")
    assert status == 200 and f"Alarm {alarm.id}" in text_of(page)
    status, page = await staff.post("/chargers/CP1/maintenance", {
        "manufactured_on": "2023-05-01", "installed_on": "2024-02-01", "last_inspection_on": "",
        "inspection_interval_days": "180"})
    words = html.unescape(text_of(page))
    assert status == 200 and "The maintenance data of CP1 is saved." in words
    assert "2024-02-01" in words and "180 days" in words
    status, page = await staff.post("/chargers/CP1/notes", {"text": "replaced the RCD", "inspection": "on"})
    words = html.unescape(text_of(page))
    assert "admin-user" in words and "replaced the RCD" in words
    status, page = await staff.post("/chargers/CP1/auto-recovery", {"auto_recovery": "on"})
    assert "Auto-recovery is on for CP1." in html.unescape(text_of(page))
    record = await appliance.core.maintenance.get("CP1")
    assert record.auto_recovery and record.inspection_interval_days == 180 and record.last_inspection_on is not None


async def test_a_wrong_date_is_refused_with_words(appliance, staff):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    status, page = await staff.post("/chargers/CP1/maintenance", {"installed_on": "1st of May"})
    assert status == 200 and "is not a date; write it as YYYY-MM-DD" in html.unescape(text_of(page))
    assert (await appliance.core.maintenance.get("CP1")).installed_on is None
