"""The notification queue's worker: alarm changes in, batched messages out, whatever restarts.

An AlarmChanged is stored in each matching recipient's collecting notification before anything is
sent (store/notifications.py); when the batch window closes it is rendered and becomes pending; the
worker delivers pending ones, retrying with a growing wait while a mail server or webhook is down,
and marks each sent once the server took it, never to send it again. One worker per server process:
the CLI only sends test messages, which do not go through the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import socket
from dataclasses import dataclass

from appliance.config import Settings
from appliance.core import events as ev
from appliance.notify import schedule
from appliance.notify.render import AlarmNote, SummaryAlarm, render_batch, render_summary, render_test
from appliance.notify.rules import NOTIFIED_CHANGES, Recipient
from appliance.notify.senders import DeliveryError, post_webhook, send_email
from appliance.notify.settings import NotifyConfig, effective, mask_url
from appliance.store import notifications as store
from appliance.store.database import Database

log = logging.getLogger(__name__)

MAX_IDLE_S = 30.0  # the worker looks at the queue at least this often (a summary's time, a stored change)
PER_ROUND = 50  # notifications delivered per round at most (the rest in the next, at once)
KEEP_DAYS = 30  # delivered and refused notifications are kept this long (notify show's recent list)
SUMMARY_LATE_BY_AT_MOST = dt.timedelta(hours=12)  # a summary missed while the appliance was down


@dataclass(frozen=True)
class TestResult:
    recipient: str
    channel: str
    ok: bool
    detail: str


class Notifier:
    def __init__(self, db: Database, bus: ev.EventBus, settings: Settings, appliance_name: str | None = None) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.appliance_name = appliance_name or socket.gethostname()
        self._wake = asyncio.Event()
        self._pruned_at: dt.datetime | None = None
        self._summary_day: dt.date | None = None  # the last day whose summaries are known to be made

    def subscribe(self) -> None:
        self.bus.subscribe(ev.AlarmChanged, self.on_alarm_changed)

    async def config(self) -> NotifyConfig:
        return effective(self.settings, await self.db.read(store.stored_settings))

    async def on_alarm_changed(self, event: ev.AlarmChanged) -> None:
        if event.change not in NOTIFIED_CHANGES:
            return
        # The change's time, before any wait: forty alarms raised at once are forty reads of the
        # settings queued for two reader threads, and the last ones' times must not fall outside the
        # batch window that the first one opened.
        now = ev.utcnow()
        config = await self.config()
        recipients = [r.target for r in config.recipients if r.wants(event.kind, event.severity)]
        if not recipients:
            return
        note = AlarmNote(event.alarm_id, event.kind, event.severity, event.identity, event.title, event.detail,
                         event.change, now)
        await self.db.write(store.collect, recipients, note.as_json(), now,
                            schedule.batch_closes_at(now, config.batch_s))
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()  # before the round: a change stored during it wakes the next one at once
            try:
                wait_s = await self.round()
            except Exception:
                log.exception("notification round failed")
                wait_s = MAX_IDLE_S
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    async def round(self) -> float:
        """Close due batches, make a due daily summary, deliver what is due; returns seconds to wait."""
        config = await self.config()
        now = ev.utcnow()
        await self.db.write(store.close_due, now, self._render_batch)
        if config.daily_summary_at is not None:
            await self._daily_summary(config, now)
        if len(await self._deliver_due(config)) == PER_ROUND:
            return 0.0
        if self._pruned_at is None or now - self._pruned_at > dt.timedelta(hours=1):
            self._pruned_at = now
            await self.db.write(store.prune, now - dt.timedelta(days=KEEP_DAYS))
        wake_at = await self.db.read(store.next_wake, ev.utcnow())
        return MAX_IDLE_S if wake_at is None else min(MAX_IDLE_S, max(0.0, (wake_at - ev.utcnow()).total_seconds()))

    def _render_batch(self, record: store.NotificationRecord):
        message = render_batch([AlarmNote.from_json(item) for item in record.items], self.settings.zone,
                               self.appliance_name, record.created_at, record.id)
        return message.subject, message.body, message.payload

    async def _daily_summary(self, config: NotifyConfig, now: dt.datetime) -> None:
        day, instant = schedule.latest_summary_time(now, config.daily_summary_at, self.settings.zone)
        if day == self._summary_day or now - instant > SUMMARY_LATE_BY_AT_MOST:
            return
        period_start = instant - dt.timedelta(days=1)
        alarms = await self.db.read(store.alarms_for_summary, period_start)
        for recipient in config.recipients:
            wanted = [SummaryAlarm(a.id, a.kind, a.severity, a.identity, a.title, a.raised_at, a.cleared_at,
                                   a.acknowledged_by) for a in alarms if recipient.wants(a.kind, a.severity)]

            def render(record: store.NotificationRecord, wanted=wanted):
                message = render_summary(wanted, period_start, instant, self.settings.zone, self.appliance_name,
                                         record.id)
                return message.subject, message.body, message.payload

            await self.db.write(store.add_once, recipient.target, "daily_summary",
                                f"daily_summary|{day.isoformat()}|{recipient.target}", now, render)
        self._summary_day = day

    async def _deliver_due(self, config: NotifyConfig) -> list[store.NotificationRecord]:
        due = await self.db.read(store.due, ev.utcnow(), PER_ROUND)
        down: dict[str, tuple[str, dt.datetime]] = {}  # a server found down this round (email, a webhook) -> why, until
        deferred: dict[str, list[int]] = {}
        for notification in due:
            recipient = config.recipient(notification.recipient)
            server_key = "email" if Recipient(notification.recipient).channel == "email" else notification.recipient
            if server_key in down:
                deferred.setdefault(server_key, []).append(notification.id)
                continue
            try:
                if recipient is None:
                    raise DeliveryError("not sent: no longer a recipient (removed from the configuration)",
                                        permanent=True)
                detail = await self._deliver(config, recipient, notification)
            except DeliveryError as e:
                next_at = await self._failed(config, notification, e)
                if next_at is not None:
                    down[server_key] = (str(e), next_at)
                continue
            await self.db.write(store.mark_sent, notification.id, ev.utcnow())
            log.info("notification %d (%s) delivered to %s: %s", notification.id, notification.purpose,
                     _shown(recipient), detail)
        for server_key, ids in deferred.items():  # they wait as long as the one that failed
            error, until = down[server_key]
            await self.db.write(store.defer, ids, until, error)
        return due

    async def _deliver(self, config: NotifyConfig, recipient: Recipient, notification: store.NotificationRecord) -> str:
        if recipient.channel == "webhook":
            return await post_webhook(recipient.target, notification.payload, config.timeout_s)
        if config.smtp is None:
            raise DeliveryError("no mail server is configured (appliance notify set --smtp smtp://HOST:PORT)")
        return await send_email(config.smtp, recipient.target, notification.subject, notification.body,
                                f"notification-{notification.id}-{int(notification.created_at.timestamp())}",
                                config.timeout_s)

    async def _failed(self, config: NotifyConfig, notification: store.NotificationRecord,
                      error: DeliveryError) -> dt.datetime | None:
        """Record a failed attempt; returns when the next one is due (None: refused for good)."""
        attempts = notification.attempts + 1
        shown = _shown(Recipient(notification.recipient))
        if error.permanent:
            next_at = None
            log.warning("notification %d to %s refused for good after %d attempt(s): %s", notification.id, shown,
                        attempts, error)
        else:
            delay_s = schedule.retry_delay_s(attempts, max_s=config.retry_max_s) * random.uniform(0.8, 1.0)
            next_at = ev.utcnow() + dt.timedelta(seconds=delay_s)
            log.warning("notification %d to %s not delivered (%s); next attempt in %.0f s", notification.id, shown,
                        error, delay_s)
        await self.db.write(store.mark_attempt_failed, notification.id, str(error), next_at)
        return next_at

    async def send_test(self, asked_by: str) -> list[TestResult]:
        """A test message to every recipient now, outside the queue; what each server said."""
        config = await self.config()
        message = render_test(self.appliance_name, ev.utcnow(), self.settings.zone, asked_by)
        results = []
        for recipient in config.recipients:
            try:
                if recipient.channel == "webhook":
                    detail = await post_webhook(recipient.target, message.payload, config.timeout_s)
                elif config.smtp is None:
                    raise DeliveryError("no mail server is configured (appliance notify set --smtp smtp://HOST:PORT)")
                else:
                    detail = await send_email(config.smtp, recipient.target, message.subject, message.body,
                                              f"test-{int(ev.utcnow().timestamp() * 1000)}", config.timeout_s)
                results.append(TestResult(_shown(recipient), recipient.channel, True, detail))
            except DeliveryError as e:
                results.append(TestResult(_shown(recipient), recipient.channel, False, str(e)))
        return results

    async def status(self) -> dict:
        config = await self.config()
        state = await self.db.read(store.queue_state)
        return {"configuration": config.shown(), "mail_server": config.smtp.describe() if config.smtp else None,
                "recipients": [{"recipient": _shown(r), "channel": r.channel, "severity": r.min_severity + " and worse",
                                "kinds": sorted(r.kinds) or "all"} for r in config.recipients],
                "queue": state}


def _shown(recipient: Recipient) -> str:
    return mask_url(recipient.target) if recipient.channel == "webhook" else recipient.target
