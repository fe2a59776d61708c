"""The life of a transaction: authorize, start, meter values, stop; replays recognised.

Every method returns only after its data is committed, so an adapter that answers the charger
after awaiting it never acknowledges anything that a crash could lose. A replayed start (same
charger, connector, tag, time and meter) or stop gets the answer it got the first time and
changes nothing; replayed meter samples are ignored by the store's replay key.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from appliance.core import events as ev
from appliance.core import metering
from appliance.core.authorization import AuthResult, answer_again_sync, authorize_sync, normalise_id_tag
from appliance.core.chargers import ChargerRegistry
from appliance.core.charger_time import stop_time, trusted_time
from appliance.store import transactions as store
from appliance.store import users as user_store
from appliance.store.database import Database
from appliance.store.transactions import SampleRow, TransactionRecord

log = logging.getLogger(__name__)

STUCK = "Stuck"


@dataclass(frozen=True)
class StartOutcome:
    transaction_id: int
    auth: AuthResult
    replayed: bool = False


@dataclass(frozen=True)
class TransactionEventInfo:
    """One event in the life of a transaction whose id the charger made up (OCPP 2.0.1)."""

    remote_tx_id: str
    event_type: str  # Started, Updated, Ended
    seq_no: int
    timestamp: dt.datetime
    trigger_reason: str
    evse_number: int | None = None
    evse_connector_id: int | None = None
    id_tag: str | None = None
    offline: bool = False
    charging_state: str = ""
    stopped_reason: str = ""
    remote_start_id: int | None = None
    reservation_id: int | None = None
    samples: tuple[SampleRow, ...] = ()


@dataclass(frozen=True)
class EventOutcome:
    transaction_id: int
    auth: AuthResult | None  # the token's status, when the event carried a token
    replayed: bool = False


@dataclass(frozen=True)
class StopOutcome:
    transaction_id: int | None
    auth: AuthResult | None
    replayed: bool = False


class TransactionService:
    def __init__(self, db: Database, bus: ev.EventBus, registry: ChargerRegistry) -> None:
        self.db = db
        self.bus = bus
        self.registry = registry
        # Called in the writer thread, inside the commit that finishes (or, later, changes) a finished
        # session: billing writes its charge detail record there, so none is ever lost or made twice.
        self.finished_sync: list[Callable[[int], None]] = []

    def _finished(self, transaction_id: int) -> None:
        for hook in self.finished_sync:
            hook(transaction_id)

    async def authorize(self, identity: str, id_tag: str) -> AuthResult:
        auth = await self.db.read(authorize_sync, id_tag, ev.utcnow(), charger_pk=self.registry.live[identity].pk)
        self._note_if_unknown(identity, id_tag, auth)
        return auth

    def _note_if_unknown(self, identity: str, id_tag: str | None, auth: AuthResult | None) -> None:
        """A tag nobody enrolled, tapped at a charger: kept (unawaited, with the next write batch) so
        that staff can assign it to a driver."""
        if id_tag and auth is not None and auth.tag_id is None:
            self.db.append_rows(user_store.NOTE_UNKNOWN_TAG,
                                user_store.unknown_tag_row(normalise_id_tag(id_tag), identity, ev.utcnow()))

    async def start(self, identity: str, connector_number: int, id_tag: str, meter_start_wh: int,
                    started_at: dt.datetime, reservation_id: int | None = None, evse_number: int | None = None,
                    remote_tx_id: str = "") -> StartOutcome:
        charger_pk = self.registry.live[identity].pk
        id_tag = normalise_id_tag(id_tag)

        def start_sync() -> StartOutcome:
            existing = store.find_start(charger_pk, connector_number, started_at, id_tag, meter_start_wh)
            if existing is not None:
                return StartOutcome(existing[0], answer_again_sync(existing[1], id_tag), replayed=True)
            auth = authorize_sync(id_tag, ev.utcnow(), charger_pk=charger_pk)
            tx_id = store.insert(charger_pk, connector_number, evse_number, id_tag, auth.tag_id, auth.driver_id,
                                 auth.status.value, started_at, meter_start_wh, reservation_id, remote_tx_id,
                                 ev.utcnow())
            return StartOutcome(tx_id, auth)

        outcome = await self.db.write(start_sync)
        self._note_if_unknown(identity, id_tag, outcome.auth)
        if not outcome.replayed:
            self.bus.publish(ev.SessionStarted(outcome.transaction_id, identity, connector_number, id_tag,
                                               outcome.auth.status.value))
        return outcome

    async def meter_values(self, identity: str, connector_number: int, transaction_id: int | None,
                           samples: list[SampleRow]) -> None:
        if not samples:
            return
        charger_pk = self.registry.live[identity].pk
        energy = metering.energy_register_wh(samples) if transaction_id is not None else None
        received = ev.utcnow()

        # a clock in 1970 must not make a running session look silent for years
        advance_to = (energy[0], trusted_time(energy[1].sampled_at, received)) if energy is not None else None
        await self.db.write_statements(*store.meter_statements(charger_pk, connector_number, transaction_id,
                                                               samples, advance_to))
        self.bus.publish(ev.SessionUpdated(transaction_id, identity, connector_number,
                                           energy[0] if energy else None, metering.power_w(samples),
                                           metering.current_by_phase(samples)))

    async def stop(self, identity: str, transaction_id: int, meter_stop_wh: int, stopped_at: dt.datetime,
                   reason: str = "", id_tag: str | None = None, samples: list[SampleRow] | None = None
                   ) -> StopOutcome:
        charger_pk = self.registry.live[identity].pk
        stop_tag = normalise_id_tag(id_tag) if id_tag else ""

        def stop_sync() -> tuple[StopOutcome, TransactionRecord | None]:
            auth = authorize_sync(stop_tag, ev.utcnow(), exclude_running=True) if stop_tag else None
            tx = store.get_for_charger(charger_pk, identity, transaction_id)
            if samples:
                connector = tx.connector_number if tx else 0
                store.insert_samples(charger_pk, connector, transaction_id, samples)
            if tx is None:
                log.warning("%s stopped transaction %s that the appliance does not know", identity, transaction_id)
                return StopOutcome(None, auth), None
            if tx.stopped_at is not None and tx.stop_reason != STUCK:
                return StopOutcome(tx.id, answer_again_sync(tx.stop_auth_status, stop_tag) if stop_tag else None, True), None
            energy_wh = max(0, meter_stop_wh - tx.meter_start_wh)
            store.finish(tx.id, stop_time(tx.started_at, stopped_at, ev.utcnow()), meter_stop_wh, energy_wh, reason or "Local", stop_tag,
                         auth.status.value if auth else "")
            self._finished(tx.id)
            return StopOutcome(tx.id, auth), store.get_plain(tx.id, identity)

        outcome, finished = await self.db.write(stop_sync)
        if finished is not None:
            self.bus.publish(ev.SessionStopped(finished.id, identity, finished.connector_number,
                                               finished.energy_wh or 0, finished.stop_reason))
        return outcome

    async def event(self, identity: str, info: TransactionEventInfo) -> EventOutcome:
        """Record a transaction event, whatever order events arrive in (offline queues), and rebuild
        the transaction from all its events; a replayed event changes nothing and gets its answer again.
        A transaction is created by its first event to arrive, Started or not."""
        charger_pk = self.registry.live[identity].pk
        id_tag = normalise_id_tag(info.id_tag) if info.id_tag else ""
        connector = info.evse_number or 0

        def event_sync() -> tuple[EventOutcome, TransactionRecord | None, TransactionRecord]:
            before = store.find_remote_plain(charger_pk, identity, info.remote_tx_id)
            auth = None
            if before is None:
                auth = authorize_sync(id_tag, ev.utcnow(), charger_pk=charger_pk) if id_tag else None
                tx_id = store.insert(charger_pk, connector, info.evse_number, id_tag, auth and auth.tag_id,
                                     auth and auth.driver_id, auth.status.value if auth else "", info.timestamp, 0,
                                     info.reservation_id, info.remote_tx_id, ev.utcnow(), info.remote_start_id)
            else:
                tx_id = before.id
            stored = store.record_event(tx_id, info.seq_no, info.event_type, info.timestamp, info.trigger_reason,
                                        info.offline, info.charging_state, id_tag, info.stopped_reason, ev.utcnow())
            if not stored:
                replay_auth = answer_again_sync(before.auth_status, id_tag) if id_tag and before else None
                return EventOutcome(tx_id, replay_auth, replayed=True), before, before
            if before is not None and id_tag:
                auth = self._token_sync(before, id_tag, info.event_type == "Ended", charger_pk)
            if info.samples:
                store.insert_samples(charger_pk, connector, tx_id, list(info.samples))
            extended = before is not None and info.event_type == "Updated" and store.extend_with_event(
                before, info.timestamp, info.charging_state, info.offline, info.samples)
            if not extended:  # the first, the last or one out of order: from every event received
                store.rebuild_from_events(tx_id)
            after = store.get_plain(tx_id, identity)
            if after.stopped_at is not None:
                self._finished(tx_id)  # ended now, or a late event changed an ended session
            return EventOutcome(tx_id, auth), before, after

        outcome, before, after = await self.db.write(event_sync)
        self._note_if_unknown(identity, id_tag, outcome.auth)
        if not outcome.replayed:
            self._publish_changes(identity, before, after, info)
        return outcome

    @staticmethod
    def _token_sync(tx: TransactionRecord, id_tag: str, ending: bool, charger_pk: int) -> AuthResult:
        """A token on a later event: the first one identifies the driver (a session may start with the
        cable, before any card), the same again is answered as before, another one on the Ended event
        is who stopped it."""
        if not tx.id_tag:
            auth = authorize_sync(id_tag, ev.utcnow(), charger_pk=charger_pk)
            store.set_token(tx.id, id_tag, auth.tag_id, auth.driver_id, auth.status.value)
            return auth
        if id_tag == tx.id_tag:
            return answer_again_sync(tx.auth_status, id_tag)
        auth = authorize_sync(id_tag, ev.utcnow(), exclude_running=True)
        if ending:
            store.set_stop_token(tx.id, id_tag, auth.status.value)
        return auth

    def _publish_changes(self, identity: str, before: TransactionRecord | None, after: TransactionRecord,
                         info: TransactionEventInfo) -> None:
        if before is None:
            self.bus.publish(ev.SessionStarted(after.id, identity, after.connector_number, after.id_tag,
                                               after.auth_status))
        if info.samples:
            self.bus.publish(ev.SessionUpdated(after.id, identity, after.connector_number, after.last_meter_wh,
                                               metering.power_w(list(info.samples)),
                                               metering.current_by_phase(list(info.samples))))
        if after.stopped_at is not None and (before is None or before.stopped_at is None):
            self.bus.publish(ev.SessionStopped(after.id, identity, after.connector_number, after.energy_wh or 0,
                                               after.stop_reason))

    async def find_remote(self, identity: str, remote_tx_id: str) -> TransactionRecord | None:
        record = await self.registry.require(identity)
        return await self.db.read(store.find_remote, record.id, remote_tx_id)

    async def finish_stuck(self, silent_for: dt.timedelta) -> list[int]:
        """Finish transactions that have sent nothing for `silent_for`, at their last known meter."""

        def finish_sync() -> list[TransactionRecord]:
            stuck = store.stale_active(ev.utcnow() - silent_for)
            for tx in stuck:
                meter = tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start_wh
                store.finish(tx.id, tx.last_meter_at or tx.started_at, meter, max(0, meter - tx.meter_start_wh),
                             STUCK, "", "")
                self._finished(tx.id)
            return [store.get(tx.id) for tx in stuck]

        finished = await self.db.write(finish_sync)
        for tx in finished:
            log.warning("transaction %s on %s finished: nothing heard for %s", tx.id, tx.charger_identity, silent_for)
            self.bus.publish(ev.SessionStopped(tx.id, tx.charger_identity, tx.connector_number, tx.energy_wh or 0,
                                               STUCK))
        return [tx.id for tx in finished]

    async def unknown_tags(self, limit: int = 100) -> list[user_store.UnknownTagRecord]:
        """Tags tapped at chargers that nobody enrolled, most recent first."""
        return await self.db.read(user_store.unknown_tags, limit)

    async def get(self, transaction_id: int) -> TransactionRecord | None:
        return await self.db.read(store.get, transaction_id)

    async def samples(self, transaction_id: int) -> list[SampleRow]:
        return await self.db.read(store.samples, transaction_id)

    async def list(self, identity: str | None = None, active: bool | None = None, id_tag: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[TransactionRecord]:
        charger_pk = None
        if identity is not None:
            record = await self.registry.require(identity)
            charger_pk = record.id
        return await self.db.read(store.list_transactions, charger_pk, active,
                                  normalise_id_tag(id_tag) if id_tag else None, limit, offset)
