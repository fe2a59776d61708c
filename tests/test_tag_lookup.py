"""The one-tag lookup every Authorize, start and stop makes (plain SQL) says what the tag listing says."""

from __future__ import annotations

import datetime as dt

from appliance.store import users
from appliance.store.models import Tag

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.timezone.utc)


# tag -> (driver's company, vehicle's company, the card's own company): the company it charges for
CASES = {
    "DRIVER-OF-ACME": ("acme", None, None, "acme"),
    "DRIVER-OF-NONE": ("", None, None, None),
    "VEHICLE-OF-TAXI": (None, "taxi", None, "taxi"),
    "VEHICLE-OF-NONE": (None, "", None, None),
    "POOL-CARD": (None, None, "pool", "pool"),
    "DRIVER-BEATS-POOL": ("acme", None, "pool", "acme"),  # handed out: the driver's company now
    "NOBODY": (None, None, None, None),
}


async def test_one_tag_is_what_the_listing_says(db):
    def build_and_read():
        companies = {name: users.add_company(name, NOW).id for name in ("acme", "taxi", "pool")}
        for n, (tag, (driver_co, vehicle_co, pool_co, _)) in enumerate(CASES.items()):
            driver = users.add_driver(f"driver{n}", companies.get(driver_co), "", NOW).id \
                if driver_co is not None else None
            vehicle = users.add_vehicle(f"vehicle{n}", companies.get(vehicle_co), NOW).id \
                if vehicle_co is not None else None
            users.add_tag(tag, driver, NOW + dt.timedelta(days=n), f"PARENT{n}", "ISO14443", n, f"note {n}", NOW,
                          vehicle_id=vehicle, company_id=companies.get(pool_co))
        listed = {t.id_tag: users.tag_record(t) for t in users.tags_query().where(Tag.id_tag.in_(list(CASES)))}
        return {tag: users.get_tag(tag) for tag in CASES}, listed

    one_by_one, listed = await db.write(build_and_read)
    for tag, (*_, company) in CASES.items():
        assert one_by_one[tag] == listed[tag], tag
        assert one_by_one[tag].company == company, tag
    assert await db.read(users.get_tag, "NOT-ENROLLED") is None


async def test_a_finished_sessions_facts_name_its_driver_and_company(db):
    """session_facts (plain SQL, asked in the commit that finishes each session): the driver the session
    started with, else its tag's; the company the driver's, else the tag's vehicle's, else the card's."""
    from appliance.store import billing
    from appliance.store import transactions as tx_store
    from appliance.store.models import Charger

    def build_and_read():
        companies = {name: users.add_company(name, NOW).id for name in ("acme", "taxi", "pool")}
        charger = Charger.create(identity="CP1", protocol="ocpp1.6-json", registration="accepted", created_at=NOW).id
        facts = {}
        for n, (tag, (driver_co, vehicle_co, pool_co, _)) in enumerate({**CASES, "DRIVERLESS-COMPANY": (
                "", None, "pool", None)}.items()):
            driver = users.add_driver(f"driver{n}", companies.get(driver_co), "", NOW).id \
                if driver_co is not None else None
            vehicle = users.add_vehicle(f"vehicle{n}", companies.get(vehicle_co), NOW).id \
                if vehicle_co is not None else None
            record = users.add_tag(tag, driver, None, "", "ISO15693", 0, "", NOW, vehicle_id=vehicle,
                                   company_id=companies.get(pool_co))
            tx = tx_store.insert(charger, 1, None, tag, record.id, driver, "Accepted", NOW + dt.timedelta(hours=n),
                                 1000, None, "", NOW)
            facts[tag] = billing.session_facts(tx)
        return facts

    facts = await db.write(build_and_read)
    expected = {tag: company for tag, (*_, company) in CASES.items()}
    expected["DRIVERLESS-COMPANY"] = "pool"  # a driver without a company: the card's own counts for the session
    for tag, company in expected.items():
        assert (facts[tag].company or None) == company, tag
        assert facts[tag].token_type == "ISO15693" and facts[tag].identity == "CP1", tag
    assert facts["DRIVER-OF-ACME"].driver == "driver0" and facts["NOBODY"].driver == ""
