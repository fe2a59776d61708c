"""The maintenance log: dates, notes with who and when, the next inspection, and the inspection_due
alarm raised when it is near and cleared when the inspection is recorded; from the CLI and the API."""

from __future__ import annotations

import datetime as dt
import json

from tests.conftest import run_cli


def today() -> dt.date:
    """The appliance's today: UTC (the tests' depot time zone)."""
    return dt.datetime.now(dt.timezone.utc).date()


async def test_notes_and_dates_from_the_cli(tmp_path):
    data_dir = tmp_path / "d"
    await run_cli(data_dir, "charger", "add", "CP1", "--protocol", "ocpp1.6-json")
    out = await run_cli(data_dir, "charger", "note", "CP1", "cable replaced after a drive-off", "--by", "lee")
    assert out.strip() == "note 1 recorded on CP1 by lee"
    await run_cli(data_dir, "charger", "note", "CP1", "annual check", "--inspection", "--by", "lee")
    notes = json.loads(await run_cli(data_dir, "charger", "notes", "CP1", "--json"))
    assert [(n["author"], n["text"], n["inspection"]) for n in notes] == [
        ("lee", "annual check", True), ("lee", "cable replaced after a drive-off", False)]
    shown = json.loads(await run_cli(data_dir, "charger", "maintenance", "CP1", "--installed", "2024-03-01",
                                     "--manufactured", "2023-11-15", "--inspection-interval", "180", "--json"))
    assert (shown["installed_on"], shown["manufactured_on"], shown["inspection_interval_days"]) == (
        "2024-03-01", "2023-11-15", 180)
    assert shown["last_inspection_on"] == today().isoformat()  # the note marked as the inspection
    assert shown["next_inspection_on"] == (today() + dt.timedelta(days=180)).isoformat()
    shown = json.loads(await run_cli(data_dir, "charger", "maintenance", "CP1", "--inspection-interval", "default",
                                     "--json"))
    assert shown["inspection_interval_in_force_days"] == 365


async def test_the_cli_refuses_bad_maintenance_input_with_words(tmp_path):
    import asyncio
    import sys

    data_dir = tmp_path / "d"
    await run_cli(data_dir, "charger", "add", "CP1", "--protocol", "ocpp1.6-json")
    for args, words in [
        (("maintenance", "CP1", "--installed", "01.03.2024"), "--installed: '01.03.2024' is not a date; write it as "
                                                              "YYYY-MM-DD"),
        (("maintenance", "CP1", "--manufactured", "2025-01-01", "--installed", "2024-01-01"),
         "installed on 2024-01-01 is before manufactured on 2025-01-01"),
        (("note", "CP1", "  "), "a note needs some text"),
        (("note", "NOPE", "x"), "no charger NOPE"),
    ]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "charger", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        assert process.returncode == 1 and words in err.decode() and "Traceback" not in err.decode(), err.decode()


async def test_an_inspection_near_raises_an_alarm_that_recording_it_clears(appliance):
    core = appliance.core
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.maintenance.update("CP1", installed_on=today() - dt.timedelta(days=360))
    core.alarm_watch.slow_look_every_s = 0  # look at inspections at every look, not once a minute
    await core.alarm_watch.look()
    [alarm] = [a for a in await core.alarms.open("CP1") if a.kind == "inspection_due"]
    assert alarm.title == "CP1: periodic inspection due in 5 days" and alarm.severity == "info"
    await core.maintenance.add_note("CP1", "lee", "inspected", inspection=True)
    await core.alarm_watch.look()
    assert not await core.alarms.open("CP1")
    assert (await core.alarms.get(alarm.id)).cleared_reason == "the inspection was done"


async def test_maintenance_through_the_api(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    status, record = await appliance.api("POST", "/api/v1/chargers/CP1/maintenance",
                                         {"installed_on": "2024-03-01", "auto_recovery": True})
    assert status == 200 and record["installed_on"] == "2024-03-01" and record["auto_recovery"] is True
    status, note = await appliance.api("POST", "/api/v1/chargers/CP1/notes", {"text": "firmware 2.1", "by": "kim"})
    assert status == 201 and note["author"] == "api:tests (kim)"
    status, shown = await appliance.api("GET", "/api/v1/chargers/CP1/maintenance")
    assert shown["next_inspection_on"] == "2025-03-01" and [n["text"] for n in shown["notes"]] == ["firmware 2.1"]
    status, refused = await appliance.api("POST", "/api/v1/chargers/CP1/maintenance", {"auto_recovery": "yes"})
    assert status == 400 and refused["error"] == "auto_recovery must be true or false"
    assert (await appliance.api("GET", "/api/v1/chargers/NOPE/maintenance"))[0] == 404
