"""Auto-recovery over loopback: a faulted virtual 1.6 charger gets a status trigger, a soft reset and a
hard reset in that order, and no more once it reports Available; never during a session; no more
runs a day than allowed; every step in the action log and in the alarm."""

from __future__ import annotations

import asyncio

from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16

QUICK = dict(auto_recovery_trigger_wait_s=0.3, auto_recovery_reset_wait_s=0.3)


async def start(start_appliance, tmp_path, **settings):
    app = await start_appliance(make_settings(tmp_path / "d", **{**QUICK, **settings}))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    await app.core.maintenance.update("CP1", auto_recovery=True)
    return app


def steps_received(cp) -> list[tuple[str, dict]]:
    return [(action, kw) for action, kw in cp.received if action in ("TriggerMessage", "Reset")]


async def alarm_saying(app, words: str):
    alarms = await app.core.alarms.list(kind="connector_faulted", identity="CP1")
    return next((a for a in alarms if words in a.actions), None)


async def test_the_steps_come_in_order_and_stop_when_the_connector_is_available(start_appliance, tmp_path):
    app = await start(start_appliance, tmp_path, auto_recovery_reset_wait_s=30)
    async with connect16(app.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "GroundFailure")
        await wait_for(lambda: len(steps_received(cp)) == 2)
        trigger = ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1})
        assert steps_received(cp) == [trigger, ("Reset", {"type": "Soft"})]
        await cp.status_notification(1, "Available")  # back after the soft reset
        alarm = await wait_for(lambda: alarm_saying(app, "reports well again after the soft reset"))
        alarm = await wait_for(lambda: _cleared(app, alarm.id))
        assert alarm.cleared_reason == "the connector reported Available"
        assert [line.split(" UTC ", 1)[1] for line in alarm.actions.splitlines()] == [
            "auto-recovery: trigger: Accepted", "auto-recovery: soft reset: Accepted",
            "auto-recovery: the connector reports well again after the soft reset"]
        await wait_for(lambda: not app.core.recovery.running)
        assert len(steps_received(cp)) == 2  # no hard reset
    log = [e for e in await app.core.commands.actions("CP1") if e.actor == "auto-recovery"]
    assert [e.action for e in reversed(log)] == ["trigger_message", "reset"]
    assert all(e.reason == f"alarm {alarm.id}: CP1 connector 1 is faulted (GroundFailure)" for e in log)


async def test_a_connector_that_stays_faulted_gets_all_three_steps_then_a_person(start_appliance, tmp_path):
    app = await start(start_appliance, tmp_path)
    async with connect16(app.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "OtherError")
        alarm = await wait_for(lambda: alarm_saying(app, "someone must look at it on site"), timeout=10)
        assert [kw for _, kw in steps_received(cp)] == [
            {"requested_message": "StatusNotification", "connector_id": 1}, {"type": "Soft"}, {"type": "Hard"}]
        assert alarm.is_open  # still faulted: the alarm stays for a person


async def test_never_during_a_session(start_appliance, tmp_path):
    app = await start(start_appliance, tmp_path)
    await add_fleet(app.core)
    async with connect16(app.url, "CP1") as cp:
        await cp.start_transaction("CARD1", connector_id=1)
        await cp.status_notification(2, "Faulted", "ConnectorLockFailure")
        await wait_for(lambda: alarm_saying(app, "a session is running on the charger"))
        assert steps_received(cp) == []


async def test_no_more_runs_a_day_than_allowed(start_appliance, tmp_path):
    app = await start(start_appliance, tmp_path, auto_recovery_per_day=1)
    async with connect16(app.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "OtherError")
        await wait_for(lambda: alarm_saying(app, "someone must look at it on site"), timeout=10)
        await cp.status_notification(1, "Available")
        await wait_for(lambda: _no_open(app))
        await cp.status_notification(1, "Faulted", "OtherError")
        await wait_for(lambda: alarm_saying(app, "had 1 auto-recovery runs in the last 24 hours"))
        assert len(steps_received(cp)) == 3  # the first run's steps only


async def test_off_unless_turned_on(start_appliance, tmp_path):
    app = await start(start_appliance, tmp_path)
    await app.core.maintenance.update("CP1", auto_recovery=False)
    async with connect16(app.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "OtherError")
        await wait_for(lambda: app.core.alarms.open("CP1"))
        await asyncio.sleep(0.5)  # longer than the first wait: a run would have begun
        assert steps_received(cp) == [] and not app.core.recovery.running


async def _cleared(app, alarm_id: int):
    alarm = await app.core.alarms.get(alarm_id)
    return alarm if not alarm.is_open else None


async def _no_open(app):
    return not await app.core.alarms.open("CP1")
