"""Auto-recovery: on a charger that has it on, a connector Faulted or stuck Unavailable gets a status
trigger, then a soft reset, then a hard reset, until it reports well again (core/recovery_steps.py
decides each step).

Every step goes through the command path (ChargerCommands), so it lands in the action log with the
actor "auto-recovery" and the alarm as its reason; each step's answer and the run's outcome are
added to the alarm (AlarmChanged "updated"). The alarm itself is cleared by the watch when the
connector reports well, as any alarm is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from appliance.config import Settings
from appliance.core import alarm_rules as rules
from appliance.core import events as ev
from appliance.core import recovery_steps as steps
from appliance.core.alarms import Alarms
from appliance.core.commands import ChargerCommands
from appliance.core.transactions import TransactionService
from appliance.store import alarms as store
from appliance.store.alarms import AlarmRecord
from appliance.store.database import Database

log = logging.getLogger(__name__)

ACTOR = "auto-recovery"
TRIGGERS = (rules.CONNECTOR_FAULTED, rules.CONNECTOR_UNAVAILABLE)
NOT_WELL = ("Faulted", "Unavailable", "Unknown")


class AutoRecovery:
    def __init__(self, db: Database, bus: ev.EventBus, alarms: Alarms, commands: ChargerCommands,
                 transactions: TransactionService, settings: Settings) -> None:
        self.db = db
        self.bus = bus
        self.alarms = alarms
        self.commands = commands
        self.transactions = transactions
        self.settings = settings
        self.status: dict[tuple[str, int], str] = {}  # (charger, connector) -> its last status
        self.running: dict[str, asyncio.Task] = {}  # charger -> its run (one at a time per charger)
        self._changed: dict[tuple[str, int], asyncio.Event] = {}

    def subscribe(self) -> None:
        self.bus.subscribe(ev.StatusChanged, self._on_status)
        self.bus.subscribe(ev.AlarmChanged, self._on_alarm)

    def _on_status(self, event: ev.StatusChanged) -> None:
        key = (event.identity, event.connector_number)
        self.status[key] = event.status
        if key in self._changed:
            self._changed[key].set()

    async def _on_alarm(self, event: ev.AlarmChanged) -> None:
        if event.change != "raised" or event.kind not in TRIGGERS or not event.identity:
            return
        if event.identity in self.running:
            return
        alarm = await self.alarms.get(event.alarm_id)
        if not (await self.db.read(store.maintenance, event.identity) or store.MaintenanceRecord("")).auto_recovery:
            return
        if event.identity in self.running:  # one run per charger: another alarm may have begun one meanwhile
            return
        task = asyncio.get_running_loop().create_task(self._run_logged(alarm), name=f"auto-recovery {event.identity}")
        self.running[event.identity] = task
        task.add_done_callback(lambda _: self.running.pop(event.identity, None))

    async def _run_logged(self, alarm: AlarmRecord) -> None:
        try:
            await self.run(alarm)
        except Exception:
            log.exception("auto-recovery of %s failed", alarm.charger_identity)

    def _well(self, identity: str, connector: int) -> bool:
        return self.status.get((identity, connector), "Faulted") not in NOT_WELL

    async def run(self, alarm: AlarmRecord) -> steps.Stop:
        """Take the steps one after the other until the connector is well or there is none left."""
        identity, connector = alarm.charger_identity, alarm.connector_number
        done: tuple[str, ...] = ()
        while True:
            decision = steps.next_step(await self._situation(identity, connector, done))
            if isinstance(decision, steps.Stop):
                await self.alarms.add_action(alarm.id, f"{_now()} auto-recovery: {decision.reason}")
                log.info("auto-recovery of %s connector %d: %s", identity, connector, decision.reason)
                return decision
            await self._take(alarm, decision)
            done += (decision,)
            await self._wait_well(identity, connector, steps.wait_after(
                decision, self.settings.auto_recovery_trigger_wait_s, self.settings.auto_recovery_reset_wait_s))

    async def _situation(self, identity: str, connector: int, done: tuple[str, ...]) -> steps.Situation:
        maintenance = await self.db.read(store.maintenance, identity)
        active = await self.transactions.list(identity, active=True, limit=1)
        runs = await self.db.read(store.runs_since, identity, ev.utcnow() - dt.timedelta(days=1))
        taken = [(e.action, e.arguments, e.result_status) for e in await self.commands.actions(identity, 50)]
        return steps.Situation(enabled=bool(maintenance and maintenance.auto_recovery),
                               recovered=self._well(identity, connector), session_running=bool(active),
                               runs_today=runs, per_day=self.settings.auto_recovery_per_day, done=done,
                               made_inoperative=steps.made_inoperative(taken, connector))

    async def _take(self, alarm: AlarmRecord, step: str) -> None:
        command, arguments = steps.command(step, alarm.connector_number)
        identity = alarm.charger_identity
        result = await self.commands.send(identity, command, arguments, actor=ACTOR,
                                          reason=f"alarm {alarm.id}: {alarm.title}")
        answer = f"{result.status}{f' ({result.detail})' if result.detail else ''}"
        await self.db.write(store.add_attempt, identity, alarm.connector_number, alarm.id, step, answer, ev.utcnow())
        await self.alarms.add_action(alarm.id, f"{_now()} auto-recovery: {step.replace('_', ' ')}: {answer}")

    async def _wait_well(self, identity: str, connector: int, timeout_s: float) -> None:
        key = (identity, connector)
        changed = self._changed.setdefault(key, asyncio.Event())
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            while not self._well(identity, connector):
                changed.clear()
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except asyncio.TimeoutError:
                    return
        finally:
            self._changed.pop(key, None)

    async def close(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        for task in list(self.running.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


def _now() -> str:
    return f"{ev.utcnow():%Y-%m-%d %H:%M:%S} UTC"
