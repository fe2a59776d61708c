"""Billing in the core: tariffs and the groups that price each EVSE, and the charge detail record
written in the same commit that finishes a session (or, when a finished session changes later, a
credit for the old record and a new one; a record once written is never changed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from decimal import Decimal

from appliance.billing import cdr as cdr_shape
from appliance.billing import pricing
from appliance.billing.signed_meter import SignedReading, from_ocpp16, from_ocpp201
from appliance.billing.statements import sessions_csv, statement_csv, statement_pdf
from appliance.billing.tariff_json import TariffFormatError, from_json, to_json
from appliance.billing.tariffs import Tariff, validate
from appliance.config import Settings
from appliance.core import events as ev
from appliance.store import billing as store
from appliance.store import chargers as charger_store
from appliance.store import users as user_store
from appliance.store.database import Database, is_constraint_error
from appliance.store.statements import statement_rows

log = logging.getLogger(__name__)

NATURE = {"Transaction.Begin": "Start", "Transaction.End": "End"}
TO_WH = {"wh": Decimal(1), "kwh": Decimal(1000), "": Decimal(1)}


class BillingError(ValueError):
    """A tariff or group that cannot be made as given; the message says why."""


class NotInBilling(BillingError, LookupError):
    pass


# How long a running session found without a session limit in its tariff is not asked again.
UNLIMITED_RECHECK_S = 60.0


class Billing:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.party = cdr_shape.Party(settings.billing_country_code, settings.billing_party_id)
        # Running sessions whose tariff has no session limit, and until when that answer holds (see
        # limit_reached); any change to tariffs, groups or assignments made here forgets them all.
        self._unlimited_until: dict[int, float] = {}
        # Until when no tariff at all has a session limit (the usual depot): then no session is asked.
        self._no_limits_until = 0.0
        self._limits_read: asyncio.Future | None = None  # the one read of that under way
        self._tariffs_changed = 0  # a read begun before a change must not set _no_limits_until

    # -- tariffs and groups ---------------------------------------------------------------------

    async def add_tariff(self, name: str, data: dict) -> store.TariffRecord:
        tariff = self._checked(name, data)
        self._forget_limits()
        return await self._write(lambda: store.add_tariff(name, tariff.kind, tariff.currency, to_json(tariff),
                                                          ev.utcnow()), f"tariff {name!r} already exists")

    async def edit_tariff(self, name: str, data: dict) -> store.TariffRecord:
        tariff = self._checked(name, data)

        def edit_sync() -> store.TariffRecord:
            if not store.update_tariff(name, tariff.kind, tariff.currency, to_json(tariff), ev.utcnow()):
                raise NotInBilling(f"no tariff {name!r}")
            return store.get_tariff(name)

        try:
            return await self.db.write(edit_sync)
        finally:
            self._forget_limits()

    async def tariffs(self) -> list[store.TariffRecord]:
        return await self.db.read(store.list_tariffs)

    async def tariff(self, name: str) -> store.TariffRecord:
        record = await self.db.read(store.get_tariff, name)
        if record is None:
            raise NotInBilling(f"no tariff {name!r}")
        return record

    async def add_group(self, name: str, base_tariff: str) -> None:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise BillingError("a tariff group's name must be 1 to 100 characters")

        def add_sync() -> None:
            store.add_group(name, self._tariff_id_sync(base_tariff), ev.utcnow())

        await self._write(add_sync, f"tariff group {name!r} already exists")
        self._forget_limits()

    async def add_rule(self, group: str, tariff: str, company: str | None = None, user: str | None = None) -> None:
        """Within a group: this tariff for one company's (or one user's) sessions; the most specific wins."""
        if bool(company) == bool(user):
            raise BillingError("a tariff rule is for one company or for one user")

        def add_sync() -> None:
            group_id = store.group_id(group)
            if group_id is None:
                raise NotInBilling(f"no tariff group {group!r}")
            company_id = driver_id = None
            if company:
                record = user_store.get_company(company)
                if record is None:
                    raise NotInBilling(f"no company {company!r}")
                company_id = record.id
            else:
                record = user_store.get_driver(user)
                if record is None:
                    raise NotInBilling(f"no user {user!r}")
                driver_id = record.id
            store.add_rule(group_id, self._tariff_id_sync(tariff), company_id, driver_id)

        await self.db.write(add_sync)
        self._forget_limits()

    async def groups(self) -> list[store.GroupRecord]:
        return await self.db.read(store.list_groups)

    async def assign(self, identity: str, group: str, evse_number: int = 0) -> None:
        """Price a charger's EVSEs (0: all of them without their own) with a tariff group."""
        def assign_sync() -> None:
            charger = charger_store.get(identity)
            if charger is None:
                raise NotInBilling(f"no charger {identity!r}")
            group_id = store.group_id(group)
            if group_id is None:
                raise NotInBilling(f"no tariff group {group!r}")
            store.set_evse_group(charger.id, evse_number, group_id)

        await self.db.write(assign_sync)
        self._forget_limits()

    # -- prices ---------------------------------------------------------------------------------

    async def estimate(self, transaction_id: int) -> pricing.Price:
        """The price of a session so far (live) or its final price."""
        def estimate_sync() -> pricing.Price:
            facts = store.session_facts(transaction_id)
            if facts is None:
                raise NotInBilling(f"no session {transaction_id}")
            return self._price_sync(facts, ev.utcnow())

        return await self.db.read(estimate_sync)

    def surely_within_limits(self, transaction_id: int) -> bool:
        """Whether `limit_reached` would answer None without reading: no tariff has a session limit,
        or this session's has none (as found within UNLIMITED_RECHECK_S)."""
        now = time.monotonic()
        return self._no_limits_until > now or self._unlimited_until.get(transaction_id, 0.0) > now

    async def limit_reached(self, transaction_id: int) -> str | None:
        """Which of its tariff's session limits (time, energy) a running session has reached, if any.

        Asked at every meter value. Most tariffs have no session limit, and working out a session's
        tariff takes several reads, so a session found without one is not asked again for
        UNLIMITED_RECHECK_S (a tariff changed elsewhere, by a second process, counts from then)."""
        if self.surely_within_limits(transaction_id):
            return None
        now = time.monotonic()
        if not await self._some_tariff_has_limits():
            return None

        def check_sync() -> tuple[str | None, bool]:
            facts = store.session_facts(transaction_id)
            if facts is None or facts.stopped_at is not None:
                return None, False
            tariff = self._tariff_for_sync(facts)
            if tariff.max_duration_s is None and tariff.max_energy_wh is None:
                return None, True
            return pricing.limit_reached(tariff, self._usage_sync(facts), ev.utcnow()), False

        reached, unlimited = await self.db.read(check_sync)
        if unlimited:
            if len(self._unlimited_until) > 100_000:  # sessions that ended long ago: start over
                self._unlimited_until.clear()
            self._unlimited_until[transaction_id] = now + UNLIMITED_RECHECK_S
        else:
            self._unlimited_until.pop(transaction_id, None)
        return reached

    def _forget_limits(self) -> None:
        self._unlimited_until.clear()
        self._no_limits_until = 0.0
        self._tariffs_changed += 1

    async def _some_tariff_has_limits(self) -> bool:
        """Whether any tariff has a session limit: one read for all the sessions asking at once (after
        a restart every running session asks at its first meter value), then, if none has, not asked
        again for UNLIMITED_RECHECK_S."""
        if self._limits_read is None:
            changes = self._tariffs_changed
            read = self._limits_read = asyncio.ensure_future(self.db.read(self._some_limit_sync))

            def remember(done: asyncio.Future) -> None:
                self._limits_read = None
                if not done.cancelled() and done.exception() is None and not done.result() \
                        and changes == self._tariffs_changed:
                    self._no_limits_until = time.monotonic() + UNLIMITED_RECHECK_S

            read.add_done_callback(remember)
        return await asyncio.shield(self._limits_read)

    def _some_limit_sync(self) -> bool:
        return any(tariff.max_duration_s is not None or tariff.max_energy_wh is not None
                   for tariff in (from_json(str(r.id), r.name, r.definition) for r in store.list_tariffs()))

    def _usage_sync(self, facts: store.SessionFacts) -> pricing.Usage:
        points = [pricing.MeterPoint(facts.started_at, facts.meter_start_wh)]
        for at, value, unit in store.energy_readings(facts.transaction_id):
            factor = TO_WH.get(unit.lower())
            if factor is not None:
                points.append(pricing.MeterPoint(at, int(Decimal(str(value)) * factor)))
        if facts.stopped_at is not None and facts.meter_stop_wh is not None:
            points.append(pricing.MeterPoint(facts.stopped_at, facts.meter_stop_wh))
        return pricing.Usage(facts.started_at, facts.stopped_at, tuple(points))

    def _price_sync(self, facts: store.SessionFacts, now: dt.datetime, tariff: Tariff | None = None) -> pricing.Price:
        return pricing.price(tariff or self._tariff_for_sync(facts), self._usage_sync(facts), self.settings.zone,
                             now=now)

    def _tariff_for_sync(self, facts: store.SessionFacts) -> Tariff:
        record = store.tariff_for(facts.charger_id, facts.connector_number, facts.driver_id, facts.company_id)
        if record is None:
            return Tariff("free", "free (no tariff group)", "free", currency=self.settings.billing_currency)
        return from_json(str(record.id), record.name, record.definition)

    # -- charge detail records ------------------------------------------------------------------

    def finish_sync(self, transaction_id: int) -> None:
        """In the commit that finishes (or changes) a finished session: its CDR, or if its priced
        figures changed since the last one, a credit for that one and a new one."""
        facts = store.session_facts(transaction_id)
        if facts is None or facts.stopped_at is None:
            return
        now = ev.utcnow()
        tariff = self._tariff_for_sync(facts)
        price = self._price_sync(facts, facts.stopped_at, tariff)
        document = self._document(uuid.uuid4().hex, facts, price, tariff, now)
        records = store.cdrs_of(transaction_id) if store.has_cdrs(transaction_id) else []
        credited = {r.credits for r in records if r.kind == "credit"}
        standing = [r for r in records if r.kind == "cdr" and r.cdr_id not in credited]
        if standing:
            last = standing[-1]
            if _same_figures(last.document, document):
                return  # a replayed stop, or a late event that changes nothing billed
            credit = cdr_shape.credit_document(uuid.uuid4().hex, last.document, now)
            store.add_cdr(credit["id"], transaction_id, "credit", last.cdr_id, credit, last.currency,
                          str(-Decimal(last.total_incl_vat)), str(-Decimal(last.total_excl_vat)), now)
        store.add_cdr(document["id"], transaction_id, "cdr", "", document, price.currency,
                      str(price.total_incl_vat), str(price.total_excl_vat), now)

    def _document(self, cdr_id: str, facts: store.SessionFacts, price: pricing.Price, tariff: Tariff,
                  now: dt.datetime) -> dict:
        connector_type, current_type = store.connector_kind(facts.charger_id, facts.connector_number) or ("", "")
        session = cdr_shape.Session(
            facts.transaction_id, facts.identity, facts.connector_number, _ocpi_connector(connector_type),
            "DC" if current_type == "DC" else "AC_3_PHASE", facts.id_tag,
            "RFID" if facts.token_type in ("ISO14443", "ISO15693") else "OTHER",
            "WHITELIST" if facts.auth_status == "" else "AUTH_REQUEST", facts.company, facts.started_at,
            facts.stopped_at)
        readings = signed_readings(facts.transaction_id)
        signed = [cdr_shape.SignedValue(NATURE.get(r.context, "Intermediate"), "", r.data) for r in readings]
        return cdr_shape.cdr_document(cdr_id, self.party, session, price, tariff, signed,
                                      readings[0].format if readings else "",
                                      next((r.public_key for r in readings if r.public_key), ""), now)

    async def statement(self, month: str, company: str | None = None, user: str | None = None,
                        kind: str = "csv") -> tuple[str, bytes | str]:
        """A month's statement (YYYY-MM in the depot's time zone) for a company, a user or the whole
        depot, as CSV text or PDF bytes; with its title."""
        start, end = self._month(month)
        rows = await self.db.read(statement_rows, start, end, company, user)
        who = f"company {company}" if company else f"user {user}" if user else "all sessions"
        title = f"Charging statement: {who}"
        # Laying out a PDF of a big month takes seconds: in a worker thread, never on the event loop.
        if kind == "pdf":
            return title, await asyncio.to_thread(statement_pdf, rows, self.settings.zone, title,
                                                  self.settings.billing_party_id, month, pricing.ROUNDING)
        return title, await asyncio.to_thread(statement_csv, rows, self.settings.zone, f"{title}, {month}")

    async def sessions_export(self, since: dt.datetime, until: dt.datetime) -> str:
        """Finished sessions (stopped in [since, until)) as the CSV an accountant expects."""
        return await asyncio.to_thread(sessions_csv, await self.db.read(statement_rows, since, until),
                                       self.settings.zone)

    def _month(self, month: str) -> tuple[dt.datetime, dt.datetime]:
        try:
            first = dt.datetime.strptime(month, "%Y-%m")
        except ValueError:
            raise BillingError(f"a month is given as YYYY-MM, not {month!r}") from None
        following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
        zone = self.settings.zone
        return first.replace(tzinfo=zone), following.replace(tzinfo=zone)

    async def cdrs(self, limit: int = 100, offset: int = 0) -> list[store.CdrRecord]:
        return await self.db.read(store.list_cdrs, limit, offset)

    async def cdrs_of(self, transaction_id: int) -> list[store.CdrRecord]:
        return await self.db.read(store.cdrs_of, transaction_id)

    # -- helpers --------------------------------------------------------------------------------

    def _checked(self, name: str, data: dict) -> Tariff:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise BillingError("a tariff's name must be 1 to 100 characters")
        try:
            tariff = from_json(name, name, data)
        except TariffFormatError as e:
            raise BillingError(str(e)) from None
        problems = validate(tariff)
        if problems:
            raise BillingError(f"tariff {name!r}: " + "; ".join(problems))
        return tariff

    @staticmethod
    def _tariff_id_sync(name: str) -> int:
        record = store.get_tariff(name)
        if record is None:
            raise NotInBilling(f"no tariff {name!r}")
        return record.id

    async def _write(self, fn, conflict: str):
        try:
            return await self.db.write(fn)
        except Exception as e:
            if is_constraint_error(e):
                raise BillingError(conflict) from None
            raise


def _same_figures(a: dict, b: dict) -> bool:
    keys = ("end_date_time", "total_cost", "total_energy", "total_time", "currency")
    return all(a.get(k) == b.get(k) for k in keys) and a["tariffs"][0]["id"] == b["tariffs"][0]["id"]


def signed_readings(transaction_id: int) -> list[SignedReading]:
    """A session's signed meter data as stored (in the reader thread or the writer's)."""
    readings = [_reading(raw, context) for _, context, raw in store.signed_samples(transaction_id)]
    return [r for r in readings if r is not None]


def _reading(raw: str, context: str) -> SignedReading | None:
    """A stored signed sample as a reading: 2.0.1 keeps {"value", "signedMeterValue"}, 1.6 the value."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    try:
        if isinstance(data, dict) and isinstance(data.get("signedMeterValue"), dict):
            return from_ocpp201(data["signedMeterValue"], context)
        return from_ocpp16(raw, context)
    except ValueError:
        log.warning("signed meter data that cannot be read kept out of the CDR: %.80s", raw)
        return None


def _ocpi_connector(connector_type: str) -> str:
    """2.0.1 ConnectorType to OCPI's connector standard (IEC 62196 Type 2 unless told otherwise)."""
    return {"cCCS1": "IEC_62196_T1_COMBO", "cCCS2": "IEC_62196_T2_COMBO", "cG105": "CHADEMO",
            "cType1": "IEC_62196_T1", "cType2": "IEC_62196_T2", "sType2": "IEC_62196_T2",
            "cTesla": "TESLA_S"}.get(connector_type, "IEC_62196_T2")
