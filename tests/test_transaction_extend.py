"""An OCPP 2.0.1 transaction extended event by event ends up as the one rebuilt from all its events."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.store import transactions as store
from appliance.store.dialect import raw
from appliance.store.models import Charger, database
from appliance.store.transactions import SampleRow

T0 = dt.datetime(2026, 11, 21, 22, 0, tzinfo=dt.timezone.utc)
ENERGY = "Energy.Active.Import.Register"
COLUMNS = ("started_at, meter_start_wh, last_meter_wh, last_meter_at, stopped_at, meter_stop_wh, energy_wh, "
           "stop_reason, offline, charging_state, last_event_at")


def sample(at: dt.datetime, value: float, unit: str = "Wh", measurand: str = ENERGY, phase: str = "",
           location: str = "Outlet") -> SampleRow:
    return SampleRow(at, measurand, phase, location, "Sample.Periodic", unit, "Raw", value, str(value))


@st.composite
def samples_at(draw, at: dt.datetime) -> list[SampleRow]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        wh = draw(st.integers(0, 80_000))
        unit = draw(st.sampled_from(["Wh", "kWh", ""]))
        out.append(sample(at + dt.timedelta(milliseconds=i), wh / 1000 if unit == "kWh" else wh, unit,
                          draw(st.sampled_from([ENERGY, ENERGY, "Power.Active.Import"])),
                          draw(st.sampled_from(["", "", "L1"])), draw(st.sampled_from(["Outlet", "", "Inlet"]))))
    return out


@st.composite
def event_sequences(draw):
    """A Started event, then Updated ones: mostly each later than the last, sometimes at the same time or
    earlier (a queue sent after a reconnect), and perhaps an Ended one."""
    at = T0
    events = [("Started", at, "EVConnected", False, draw(samples_at(at)))]
    for _ in range(draw(st.integers(0, 12))):
        at = at + dt.timedelta(seconds=draw(st.sampled_from([60, 60, 60, 1, 0, -90])))
        events.append(("Updated", at, draw(st.sampled_from(["", "Charging", "SuspendedEV", "SuspendedEVSE"])),
                       draw(st.booleans()), draw(samples_at(at))))
    if draw(st.booleans()):
        at = at + dt.timedelta(seconds=30)
        events.append(("Ended", at, "EVConnected", False, draw(samples_at(at))))
    return events


def new_transaction(charger_id: int, remote_tx_id: str, connector: int = 1) -> int:
    return store.insert(charger_id, connector, 1, "", None, None, "", T0, 0, None, remote_tx_id, T0)


def receive(charger_id: int, tx_id: int, seq_no: int, event, extend: bool, connector: int = 1) -> None:
    """What TransactionService.event does with an event, extending or always rebuilding."""
    event_type, at, state, offline, samples = event
    before = store.get_plain(tx_id, "CP")
    if not store.record_event(tx_id, seq_no, event_type, at, "MeterValuePeriodic", offline, state, "", "", at):
        return
    if samples:
        store.insert_samples(charger_id, connector, tx_id, samples)
    if not (extend and event_type == "Updated" and store.extend_with_event(before, at, state, offline, samples)):
        store.rebuild_from_events(tx_id)


def row(tx_id: int) -> tuple:
    return tuple(raw(database).execute(f'SELECT {COLUMNS} FROM "transaction" WHERE id = ?', (tx_id,)).fetchone())


async def test_extending_gives_what_rebuilding_gives(db):
    def add_chargers() -> tuple[int, int]:
        return tuple(Charger.create(identity=name, protocol="ocpp2.0.1", registration="accepted", created_at=T0).id
                     for name in ("EXTENDED", "REBUILT"))

    extended_cp, rebuilt_cp = await db.write(add_chargers)
    counter = iter(range(10**6))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(event_sequences())
    def check(events) -> None:
        n = next(counter)  # a connector of its own: samples and transactions are unique per connector
        extended, rebuilt = new_transaction(extended_cp, "x", n), new_transaction(rebuilt_cp, "r", n)
        for seq_no, event in enumerate(events):
            receive(extended_cp, extended, seq_no, event, extend=True, connector=n)
            receive(rebuilt_cp, rebuilt, seq_no, event, extend=False, connector=n)
            assert row(extended) == row(rebuilt), (seq_no, event)

    await db.write(check)


async def test_an_event_in_order_is_not_a_rebuild(db):
    """The in-order case takes the short way; a late event (earlier than one received) the long one."""
    def run() -> tuple[bool, bool, bool]:
        cp = Charger.create(identity="CP", protocol="ocpp2.0.1", registration="accepted", created_at=T0).id
        tx = new_transaction(cp, "t1")
        receive(cp, tx, 0, ("Started", T0, "Charging", False, [sample(T0, 1000)]), extend=True)
        later = T0 + dt.timedelta(minutes=1)
        store.record_event(tx, 1, "Updated", later, "MeterValuePeriodic", False, "", "", "", later)
        in_order = store.extend_with_event(store.get_plain(tx, "CP"), later, "", False, [sample(later, 1500)])
        earlier = T0 + dt.timedelta(seconds=30)
        late = store.extend_with_event(store.get_plain(tx, "CP"), earlier, "", False, [sample(earlier, 1200)])
        store.record_event(tx, 2, "Ended", later, "EVDeparted", False, "", "", "", later)
        store.rebuild_from_events(tx)
        after_end = store.extend_with_event(store.get_plain(tx, "CP"), later + dt.timedelta(minutes=1), "", False, [])
        return in_order, late, after_end

    assert await db.write(run) == (True, False, False)
