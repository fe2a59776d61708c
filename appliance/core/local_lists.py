"""Every charger's local authorization list, kept equal to what the rules allow.

Drivers must be able to charge while the charger has lost the box. So each charger holds the depot's
tags with their status, and this keeps that list right: in full or as a difference after every
(re)connect (its version compared with the one it last accepted), and as a difference within seconds
of a change to the user group; a blocked tag also clears the charger's authorization cache, so it
cannot charge on a cached acceptance. Planning is pure (`local_list_plan`); this sends the plan
through ChargerCommands (time-bounded, in the action log) and remembers what was accepted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

from appliance.core import events as ev
from appliance.core.boot_work import BootWork
from appliance.core.authorization import AuthStatus, decide
from appliance.core.chargers import ChargerRegistry
from appliance.core.commands import ChargerCommands
from appliance.core.device_model import DeviceModel
from appliance.core.reports import ChargerReports
from appliance.core.link import LocalListEntry
from appliance.core.local_list_plan import MOST_RECENTLY_USED_FIRST, Limits, fit, plan
from appliance.store import local_lists as store
from appliance.store import transactions as tx_store
from appliance.store import users as user_store
from appliance.store.database import Database
from appliance.store.local_lists import ListStateRecord

log = logging.getLogger(__name__)

ACTOR = "system:local-list"
# A burst of changes (a box of cards enrolled) goes out as one update, this long after the first.
SETTLE_S = 1.0
# OCPP 1.6 configuration keys for a charger's list limits.
MAX_LENGTH_KEY, PER_MESSAGE_KEY = "LocalAuthListMaxLength", "SendLocalListMaxLength"
# How a charger should behave while it has lost the box: charge the depot's own tags from its list
# (and at once, without asking first), and nobody it does not know. 1.6 names; the 2.0.1 link
# translates them to AuthCtrlr/LocalAuthListCtrlr variables.
OFFLINE_BEHAVIOUR = (("LocalAuthListEnabled", "true"), ("LocalAuthorizeOffline", "true"),
                     ("LocalPreAuthorize", "true"), ("AllowOfflineTxForUnknownId", "false"))
OFFLINE_REPORT = "offline_configuration"


@dataclass(frozen=True)
class SyncResult:
    ok: bool
    version: int
    updates_sent: int
    entries: int
    left_out: tuple[str, ...] = ()
    rule: str = ""
    error: str = ""


class LocalLists:
    def __init__(self, db: Database, bus: ev.EventBus, registry: ChargerRegistry, commands: ChargerCommands,
                 device_model: DeviceModel, reports: ChargerReports, boot_work: BootWork | None = None) -> None:
        self.reports = reports
        self.boot_work = boot_work or BootWork()
        self.db = db
        self.bus = bus
        self.registry = registry
        self.commands = commands
        self.device_model = device_model
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: asyncio.Task | None = None
        self._again: str | None = None  # a change while a round of syncs ran: the reason for one more
        self._tasks: set[asyncio.Task] = set()

    def subscribe(self) -> None:
        self.bus.subscribe(ev.ChargerBooted, self._on_booted)
        self.bus.subscribe(ev.TagChanged, self._on_tag_changed)
        self.bus.subscribe(ev.UserGroupChanged, self._on_group_changed)
        self.bus.subscribe(ev.ChargerChanged, self._on_charger_changed)

    # -- what the rules say ---------------------------------------------------------------------

    async def desired(self, identity: str | None = None) -> list[LocalListEntry]:
        """The tags that may charge at the charger (every tag of the depot when it is open to all),
        with the status the authorization rule gives them now."""
        now = ev.utcnow()
        tags = await self.db.read(user_store.list_tags)
        allowed = None
        if identity is not None:
            record = await self.registry.require(identity)
            allowed = await self.db.read(user_store.allowed_companies, record.id)
        entries = []
        for tag in tags:
            status = decide(tag, now, 0, allowed).status
            if status is not AuthStatus.NOT_AT_THIS_LOCATION:  # not on this charger's list: refused offline
                entries.append(LocalListEntry(tag.id_tag, status.value, tag.expires_at, tag.parent_id_tag))
        return entries

    async def limits(self, identity: str) -> Limits:
        live = self.registry.live.get(identity)
        if live is not None and live.protocol == "ocpp2.0.1":
            variables = await self.device_model.variables(identity, ("LocalAuthListCtrlr",))
            entries = next((v.max_limit for v in variables if v.variable == "Entries" and v.max_limit), None)
            per_message = next((_int(v.value) for v in variables if v.variable == "ItemsPerMessage"), None)
            return Limits(int(entries) if entries else None, per_message)
        answer = await self.commands.send(identity, "get_configuration", {"keys": [MAX_LENGTH_KEY, PER_MESSAGE_KEY]},
                                          actor=ACTOR, reason="local list: the charger's limits")
        values = {k["key"]: _int(k.get("value")) for k in answer.data.get("configuration_key", [])}
        return Limits(values.get(MAX_LENGTH_KEY), values.get(PER_MESSAGE_KEY))

    # -- syncing ------------------------------------------------------------------------------------

    async def state(self, identity: str) -> ListStateRecord | None:
        record = await self.registry.require(identity)
        return await self.db.read(store.get, record.id)

    async def sync(self, identity: str, full: bool = False, reason: str = "") -> SyncResult:
        """Bring the charger's list to what the rules say; `full` sends it whole whatever it holds."""
        lock = self._locks.setdefault(identity, asyncio.Lock())
        async with lock:
            return await self._sync(identity, full, reason or "local list kept in step")

    async def _sync(self, identity: str, full: bool, reason: str) -> SyncResult:
        record = await self.registry.require(identity)
        state = await self.db.read(store.get, record.id)
        known_version = state.version if state else 0
        version_answer = await self.commands.send(identity, "get_local_list_version", {}, actor=ACTOR, reason=reason)
        if not version_answer.ok:
            return await self._failed(record.id, known_version, f"GetLocalListVersion: {version_answer.status} "
                                                                 f"{version_answer.detail}".strip())
        charger_version = version_answer.data.get("list_version")
        limits = await self.limits(identity)
        last_use = await self.db.read(tx_store.last_use_by_tag)
        kept, left_out = fit(await self.desired(identity), limits.max_entries,
                             rank=lambda e: -last_use.get(e.id_tag, 0.0))
        on_charger = None if full or state is None else {e["id_tag"]: _entry(e) for e in state.entries}
        result = plan(kept, on_charger, charger_version, known_version,
                      max(known_version, charger_version if isinstance(charger_version, int) else 0) + 1, limits)
        for update in result.updates:
            answer = await self.commands.send(identity, "send_local_list",
                                              {"version": update.version, "full": update.full,
                                               "entries": list(update.entries)}, actor=ACTOR, reason=reason)
            if not answer.ok:
                # The charger now holds an unknown part of the plan: its version differs from ours, so the
                # next sync compares, sees that and sends the list whole.
                return await self._failed(record.id, known_version,
                                          f"SendLocalList version {update.version}: {answer.status} {answer.detail}"
                                          .strip(), left_out)
        now = ev.utcnow()
        await self.db.write(store.save, record.id, version=result.target_version,
                            entries=[_json(e) for e in kept], left_out=left_out, synced_at=now, attempted_at=now,
                            error="")
        if left_out:
            log.warning("%s holds %d of %d tags (%s); left out: %s", identity, len(kept), len(kept) + len(left_out),
                        MOST_RECENTLY_USED_FIRST, ", ".join(left_out[:20]))
        return SyncResult(True, result.target_version, len(result.updates), len(kept), tuple(left_out),
                          MOST_RECENTLY_USED_FIRST if left_out else "")

    async def _failed(self, charger_pk: int, version: int, error: str, left_out: list[str] = ()) -> SyncResult:
        await self.db.write(store.save, charger_pk, error=error[:500], attempted_at=ev.utcnow())
        return SyncResult(False, version, 0, 0, tuple(left_out), error=error)

    # -- when to sync -------------------------------------------------------------------------------

    async def configure_offline(self, identity: str) -> dict[str, str]:
        """Set the charger's offline behaviour; returns (and keeps, for staff to see) what it answered."""
        answers = {}
        for key, value in OFFLINE_BEHAVIOUR:
            result = await self.commands.send(identity, "change_configuration", {"key": key, "value": value},
                                              actor=ACTOR, reason="offline behaviour for the depot's local list")
            answers[key] = result.status
        summary = ", ".join(f"{key}={value}: {answers[key]}" for key, value in OFFLINE_BEHAVIOUR)
        await self.reports.record(identity, OFFLINE_REPORT, {"settings": dict(OFFLINE_BEHAVIOUR), "answers": answers},
                                  summary)
        return answers

    async def offline_configuration(self, identity: str) -> dict | None:
        """What the charger answered when its offline behaviour was set, None if it never was."""
        found = await self.reports.list(identity, OFFLINE_REPORT, limit=1)
        return found[0].payload if found else None

    async def _on_booted(self, event: ev.ChargerBooted) -> None:
        if event.registration != "accepted":
            return
        # After its boot answer, its (2.0.1) device model report, and (SOAP) the link to the address it gave.
        await asyncio.sleep(SETTLE_S)

        async def configure() -> None:
            if self.commands.links.get(event.identity) is None:  # gone while it waited its turn
                return
            try:
                if await self.offline_configuration(event.identity) is None:  # once, for a charger new here
                    await self.configure_offline(event.identity)
            except Exception:
                log.exception("%s: setting the offline behaviour failed", event.identity)
            await self._sync_quietly(event.identity, "charger (re)connected: compare and send what is missing")

        await self.boot_work.run(event.identity, "local list", configure)

    async def _on_tag_changed(self, event: ev.TagChanged) -> None:
        if event.change == "blocked":
            # Its cache may still say Accepted: no charge on a cached acceptance.
            for identity in self.commands.links.connected():
                await self.commands.send(identity, "clear_cache", {}, actor=ACTOR,
                                         reason=f"tag {event.id_tag} blocked: clear the authorization cache")
        self._schedule_all(f"tag {event.id_tag} {event.change}")

    async def _on_charger_changed(self, event: ev.ChargerChanged) -> None:
        if event.change == "access" and self.commands.links.get(event.identity) is not None:
            await self._sync_quietly(event.identity, "charger opened to other companies")

    async def _on_group_changed(self, event: ev.UserGroupChanged) -> None:
        self._schedule_all(f"{event.kind} {event.name} {event.change}")

    def _schedule_all(self, reason: str) -> None:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._sync_all_later(reason))
        else:  # the round under way may have read the lists before this change: one more round after it
            self._again = reason

    async def _sync_all_later(self, reason: str | None) -> None:
        while reason:
            await asyncio.sleep(SETTLE_S)
            self._again = None  # changes from here on are read by this round, or make another
            await asyncio.gather(*(self._sync_quietly(identity, reason)
                                   for identity in self.commands.links.connected()))
            reason = self._again

    async def _sync_quietly(self, identity: str, reason: str) -> None:
        try:
            result = await self.sync(identity, reason=reason)
            if not result.ok:
                log.warning("%s: local list not in step: %s", identity, result.error)
        except Exception:
            log.exception("%s: local list sync failed", identity)


def _int(text: object) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def _json(entry: LocalListEntry) -> dict:
    data = dataclasses.asdict(entry)
    data["expires_at"] = entry.expires_at.isoformat() if entry.expires_at else None
    return data


def _entry(data: dict) -> LocalListEntry:
    expires = data.get("expires_at")
    return LocalListEntry(data["id_tag"], data["status"], dt.datetime.fromisoformat(expires) if expires else None,
                          data.get("parent_id_tag", ""))
