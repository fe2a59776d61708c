"""The two ways a report adds up sessions agree (hypothesis, on a SQLite file): the database's sums of the
sessions that lie in one bucket plus Python's split of the others give, bucket by bucket and key by key,
what Python alone gives splitting every session; whatever the sessions' times against the buckets'
edges (at an edge, across one, across the period's ends, of no length, still running)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.analytics import metrics as mx
from appliance.analytics import periods as pd
from appliance.analytics import service as sv
from appliance.store import analytics as store
from appliance.store import migrations
from appliance.store.database import open_sqlite
from appliance.store.models import Charger, Company, Driver, Tag, Transaction
from appliance.store.times import to_db

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 4, 15, 12, 0, tzinfo=dt.timezone.utc)
PERIOD = pd.parse_period("2026-03-28..2026-03-30", BERLIN, NOW)  # spring forward inside
T0 = to_db(NOW)


@pytest.fixture
def depot(tmp_path):
    db = open_sqlite(tmp_path / "r.sqlite3", "normal")
    migrations.migrate(db)
    with db.connection_context():
        blue = Company.create(name="Blue", created_at=T0).id
        alice = Driver.create(name="alice", company=blue, created_at=T0).id
        Tag.create(id_tag="CARD1", driver=alice, created_at=T0, updated_at=T0)
        Tag.create(id_tag="POOL", company=blue, created_at=T0, updated_at=T0)
        for identity in ("CP1", "CP2"):
            Charger.create(identity=identity, protocol="ocpp1.6-json", registration="accepted", created_at=T0)
    db.connect()
    yield db
    db.close()


# Times in minutes from the period's start: around the edges (each 60 min at hour grain), often exactly on one.
minutes = st.one_of(st.integers(-200, 3 * 1440 + 200).map(float), st.floats(-200, 3 * 1440 + 200))
sessions = st.lists(st.tuples(minutes, st.one_of(st.none(), st.floats(0, 600)), st.integers(-5, 50_000),
                              st.sampled_from([(1, "CARD1"), (2, "POOL"), (1, "STRAY")])), max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions, st.sampled_from(["hour", "day"]), st.sampled_from([None, "company", "charger", "evse", "driver"]),
       st.sampled_from(["energy", "sessions"]))
def test_database_sums_and_python_splits_agree(depot, made, grain, by, metric):
    Transaction.delete().execute()
    tags = {t.id_tag: t for t in Tag.select()}
    for i, (start_min, length_min, wh, (charger, id_tag)) in enumerate(made):
        start = PERIOD.start + dt.timedelta(minutes=start_min)
        stop = None if length_min is None else start + dt.timedelta(minutes=length_min)
        tag = tags.get(id_tag)
        Transaction.create(charger=charger, connector_number=1 + i % 2, id_tag=f"{id_tag}{i}", tag=tag,
                           driver=tag.driver_id if tag else None, auth_status="Accepted", started_at=to_db(start),
                           meter_start_wh=100, last_meter_wh=100 + wh, stopped_at=to_db(stop),
                           meter_stop_wh=None if stop is None else 100 + wh,
                           energy_wh=None if stop is None else wh, created_at=T0)
    m = mx.check(metric, by)
    buckets = pd.buckets(PERIOD, grain)
    both = sv._read_facts(m, by, PERIOD, buckets, NOW)
    together = mx.compute(m, buckets, both.sessions, cells=both.cells)
    key_of = sv._key_function(by, {})
    rows = store.sessions_overlapping(PERIOD.start, PERIOD.end)
    now_us = mx.splitting.to_us(NOW)
    alone = mx.compute(m, buckets, [
        mx.SessionFact(r.transaction_id, r.start_us, r.stop_us if r.stop_us is not None else max(now_us, r.start_us),
                       r.energy_wh, key_of(r.__dict__)) for r in rows])
    assert shown(together.values) == shown(alone.values)


def shown(values: dict[str, list]) -> dict[str, list]:
    """Without the keys that are zero throughout (a session that started before the period has a key in the
    Python path and adds nothing to a count)."""
    return {k: v for k, v in values.items() if k == "" or any(v)}
