"""Alarm notifications delivered over loopback to a real SMTP server and a webhook: from a faulted
virtual charger to the inbox; batched; stored while the mail server is down and sent when it is
back, across a restart too; never sent twice once the server took it; a daily summary once a day."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from appliance.core import events as ev
from appliance.server import write_server_state
from appliance.store import notifications as store
from appliance.web.keys import NOTIFIER
from tests.conftest import make_settings, run_cli, wait_for
from tests.notify_peers import MailServer, WebhookReceiver
from tests.virtual_charger import connect16


@pytest.fixture
def mail():
    server = MailServer().start()
    yield server
    server.stop()


def notify_settings(tmp_path, **overrides):
    defaults = dict(notify_smtp_security="plain", notify_to="ops@depot.example", notify_batch_s=0.3,
                    notify_retry_max_s=0.3, notify_timeout_s=5.0, timezone="Europe/Berlin")
    return make_settings(tmp_path / "data", **{**defaults, **overrides})


def alarm(i: int, change: str = "raised", kind: str = "charger_offline", severity: str = "warning") -> ev.AlarmChanged:
    return ev.AlarmChanged(i, kind, severity, f"CP{i}", f"Charger CP{i} is offline", "no heartbeat for 5 min", change)


async def queue(appliance) -> store.QueueState:
    return await appliance.core.db.read(store.queue_state)


async def test_a_faulted_charger_is_mailed_and_its_recovery_too(tmp_path, start_appliance, mail):
    appliance = await start_appliance(notify_settings(tmp_path, notify_smtp=mail.url))
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await cp.status_notification(1, "Faulted", "GroundFailure")
        await wait_for(lambda: mail.received, timeout=10)
        raised = mail.received[0]
        assert raised["To"] == "ops@depot.example" and "CRITICAL" in raised["Subject"] and "CP1" in raised["Subject"]
        assert "GroundFailure" in raised.get_content()
        await cp.status_notification(1, "Available")
        await wait_for(lambda: len(mail.received) == 2, timeout=10)
    assert mail.received[1]["Subject"].split(": ", 1)[1].startswith("cleared: ")


async def test_many_alarms_within_the_window_are_one_message(tmp_path, start_appliance, mail):
    appliance = await start_appliance(notify_settings(tmp_path, notify_smtp=mail.url, notify_batch_s=1.0))
    for i in range(40):
        appliance.core.bus.publish(alarm(i))
    await wait_for(lambda: mail.received, timeout=10)
    await appliance.core.bus.drain()
    await appliance.server.app[NOTIFIER].round()
    assert len(mail.received) == 1
    body = mail.received[0].get_content()
    assert all(f"Charger CP{i} is offline" in body for i in range(40))
    assert mail.received[0]["Subject"].endswith("40 alarm changes (40 raised, worst warning): charger_offline x40")


async def test_an_alarm_raised_while_the_mail_server_is_down_is_sent_when_it_is_back(tmp_path, start_appliance):
    mail = MailServer()  # not started: nothing listens on its port
    appliance = await start_appliance(notify_settings(tmp_path, notify_smtp=mail.url))
    appliance.core.bus.publish(alarm(1, severity="critical"))
    state = await wait_for(lambda: _failing(appliance), timeout=10)
    assert "could not be reached" in state.last_error
    mail.start()
    try:
        await wait_for(lambda: mail.received, timeout=10)
        await wait_for(lambda: _sent(appliance), timeout=5)
        notifier = appliance.server.app[NOTIFIER]
        await notifier.round()
        await notifier.round()  # sent once confirmed: later rounds leave it alone
        assert len(mail.received) == 1
        assert mail.received[0]["Subject"].endswith("CRITICAL: Charger CP1 is offline")
    finally:
        mail.stop()


async def test_the_queue_survives_a_restart(tmp_path, start_appliance):
    mail = MailServer()
    settings = notify_settings(tmp_path, notify_smtp=mail.url)
    first = await start_appliance(settings)
    first.core.bus.publish(alarm(1))
    await wait_for(lambda: _failing(first), timeout=10)
    await stop(first)  # the appliance stops with the message undelivered
    mail.start()
    try:
        second = await start_appliance(settings)
        await wait_for(lambda: mail.received, timeout=10)
        await wait_for(lambda: _sent(second), timeout=5)
        await stop(second)
        third = await start_appliance(settings)  # and a further restart sends nothing again
        await third.server.app[NOTIFIER].round()
        assert len(mail.received) == 1
    finally:
        mail.stop()


async def test_login_at_the_mail_server_keeps_the_password_out_of_the_log(tmp_path, start_appliance, caplog):
    mail = MailServer(users={"alarms": "s3cret-pw"}).start()
    caplog.set_level(logging.DEBUG)
    try:
        appliance = await start_appliance(notify_settings(tmp_path, notify_smtp=mail.url, notify_smtp_user="alarms",
                                                          notify_smtp_password="s3cret-pw",
                                                          notify_from="alarms@depot.example"))
        appliance.core.bus.publish(alarm(1))
        await wait_for(lambda: mail.received, timeout=10)
        assert mail.logins == [("alarms", "s3cret-pw")]
        assert mail.envelopes == [("alarms@depot.example", ["ops@depot.example"])]
        status, shown = await appliance.api("GET", "/api/v1/notify")
        assert status == 200 and shown["configuration"]["notify_smtp_password"]["value"] == "********"
        assert "s3cret-pw" not in caplog.text and "s3cret-pw" not in str(shown)
    finally:
        mail.stop()


async def test_a_wrong_password_is_retried_and_says_so(tmp_path, start_appliance):
    mail = MailServer(users={"alarms": "right"}).start()
    try:
        appliance = await start_appliance(notify_settings(tmp_path, notify_smtp=mail.url, notify_smtp_user="alarms",
                                                          notify_smtp_password="wrong", notify_timeout_s=1.0))
        appliance.core.bus.publish(alarm(1))
        state = await wait_for(lambda: _failing(appliance), timeout=10)
        # (aiosmtpd, refusing the PLAIN login, stalls smtplib's next try with LOGIN: either way, the login is named)
        assert "login of alarms" in state.last_error and "password" in state.last_error and not mail.received
    finally:
        mail.stop()


async def test_the_webhook_gets_the_json_and_a_failed_post_is_tried_again(tmp_path, start_appliance, aiohttp_server):
    receiver = WebhookReceiver()
    receiver.script = [503]
    hook = await aiohttp_server(receiver.app())
    url = str(hook.make_url("/hook"))
    appliance = await start_appliance(notify_settings(tmp_path, notify_to="", notify_webhook=url))
    appliance.core.bus.publish(alarm(3, kind="connector_faulted", severity="critical"))
    appliance.core.bus.publish(alarm(3, change="acknowledged", kind="connector_faulted", severity="critical"))
    await wait_for(lambda: len(receiver.received) == 2, timeout=10)
    await wait_for(lambda: _sent(appliance), timeout=5)
    first, second = receiver.received
    assert first == second  # the same notification, the same id: the receiver can tell a repeat
    assert receiver.headers[1]["X-Notification-Id"] == second["id"]
    assert second["type"] == "alarms" and second["subject"].endswith("CRITICAL: Charger CP3 is offline")
    [item] = second["alarms"]  # the acknowledgement is no news
    assert item["kind"] == "connector_faulted" and item["charger"] == "CP3" and item["change"] == "raised"
    assert dt.datetime.fromisoformat(item["at"]).tzinfo is not None and item["at"].endswith("Z")


async def test_a_webhook_that_is_gone_is_not_tried_again(tmp_path, start_appliance, aiohttp_server):
    receiver = WebhookReceiver()
    receiver.script = [410]
    hook = await aiohttp_server(receiver.app())
    appliance = await start_appliance(notify_settings(tmp_path, notify_to="",
                                                      notify_webhook=str(hook.make_url("/hook"))))
    appliance.core.bus.publish(alarm(1))
    await wait_for(lambda: _failed(appliance), timeout=10)
    await appliance.server.app[NOTIFIER].round()
    assert len(receiver.received) == 1


async def test_recipients_get_only_their_kinds_and_severities(tmp_path, start_appliance, mail):
    appliance = await start_appliance(notify_settings(
        tmp_path, notify_smtp=mail.url,
        notify_to="boss@depot.example;severity=critical, tech@depot.example;kinds=disk_filling;severity=info"))
    appliance.core.bus.publish(alarm(1, severity="warning"))  # nobody's
    appliance.core.bus.publish(alarm(2, severity="critical"))  # the boss's
    appliance.core.bus.publish(alarm(3, kind="disk_filling", severity="info"))  # the technician's
    await wait_for(lambda: len(mail.received) == 2, timeout=10)
    by_recipient = {m["To"]: m for m in mail.received}
    assert "CP2" in by_recipient["boss@depot.example"]["Subject"]
    assert "CP3" in by_recipient["tech@depot.example"]["Subject"]


async def test_the_daily_summary_goes_once_a_day(tmp_path, start_appliance, aiohttp_server):
    receiver = WebhookReceiver()
    hook = await aiohttp_server(receiver.app())
    zone = dt.timezone.utc
    earlier = (dt.datetime.now(zone) - dt.timedelta(minutes=5)).strftime("%H:%M")
    settings = notify_settings(tmp_path, notify_to="", notify_webhook=str(hook.make_url("/hook")),
                               notify_daily_summary_at=earlier, timezone="UTC")
    first = await start_appliance(settings)
    await wait_for(lambda: receiver.received, timeout=10)
    assert receiver.received[0]["type"] == "daily_summary" and "no open alarms" in receiver.received[0]["subject"]
    await wait_for(lambda: _sent(first), timeout=5)
    await stop(first)
    second = await start_appliance(settings)
    await second.server.app[NOTIFIER].round()
    assert len(receiver.received) == 1


async def test_notify_test_through_the_running_server(tmp_path, start_appliance, mail):
    settings = notify_settings(tmp_path, notify_smtp=mail.url)
    appliance = await start_appliance(settings)
    write_server_state(settings, appliance.server.port, appliance.token)  # how the CLI finds a running server
    output = await run_cli(settings.data_dir, "notify", "test")
    assert "sent to ops@depot.example (email): accepted by 127.0.0.1" in output
    assert mail.received[0]["Subject"].endswith("test message")


async def stop(appliance) -> None:
    """Stop a running appliance so that the next test start on its data directory is a restart."""
    await appliance.core.tokens.revoke("tests")  # each start makes the tests' API token anew
    await appliance.server.close()


async def _failing(appliance):
    state = await queue(appliance)
    return state if state.failing else None


async def _failed(appliance):
    return (await queue(appliance)).failed


async def _sent(appliance):
    state = await queue(appliance)
    return state.sent and not state.pending and not state.collecting


async def test_the_api_test_with_nobody_to_tell_says_so(tmp_path, start_appliance):
    appliance = await start_appliance(notify_settings(tmp_path, notify_to=""))
    status, answer = await appliance.api("POST", "/api/v1/notify/test", {})
    assert status == 400 and "no recipients are configured" in answer["error"]
