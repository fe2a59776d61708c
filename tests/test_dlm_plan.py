"""From the staff's plan to the allocation's model, safe shares, and the profiles' fallback schedule."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.dlm import plan as plans
from appliance.dlm import profiles
from appliance.store.circuits import CircuitRecord, EvseFacts, MemberRecord

UTC = dt.timezone.utc


def circuit(name: str, limit: float = 32.0, phases: int = 3, parent: str | None = None, phase: str = "L1",
            reserve: float = 0.0, minimum: float = 6.0) -> CircuitRecord:
    return CircuitRecord(0, name, parent, limit, phases, phase, reserve, minimum, 230.0, "", "other")


def member(identity: str, circuit_name: str = "main", evse: int = 0, phases: int = 3, phase: str = "L1",
           rotation: str = "RST", max_a: float | None = None, protocol: str = "ocpp1.6-json",
           throttle_key: str = "") -> MemberRecord:
    return MemberRecord(1, identity, protocol, evse, circuit_name, max_a, phases, phase, rotation, 230.0, throttle_key)


@pytest.mark.parametrize("members, known, expected", [
    # Not heard from yet: one EVSE, 32 A.
    ([member("A")], {}, {("A", 1): (32.0, ("L1", "L2", "L3"), "profile")}),
    # Every EVSE it reported gets the charger's wiring.
    ([member("A")], {"A": [EvseFacts("A", 1, None, None), EvseFacts("A", 2, None, None)]},
     {("A", 1): (32.0, ("L1", "L2", "L3"), "profile"), ("A", 2): (32.0, ("L1", "L2", "L3"), "profile")}),
    # An EVSE's own row wins over the charger's: two 1-phase EVSEs on different phases.
    ([member("A", phases=1, phase="L1"), member("A", evse=2, phases=1, phase="L3")],
     {"A": [EvseFacts("A", 1, None, None), EvseFacts("A", 2, None, None)]},
     {("A", 1): (32.0, ("L1",), "profile"), ("A", 2): (32.0, ("L3",), "profile")}),
    # Its maximum from the power it reports: 11 kW on 3 x 230 V is 15.9 A.
    ([member("A")], {"A": [EvseFacts("A", 1, 11000, 3)]}, {("A", 1): (15.9, ("L1", "L2", "L3"), "profile")}),
    # Given explicitly, the maximum wins; the rotation maps its phases.
    ([member("A", max_a=16, rotation="TSR")], {}, {("A", 1): (16.0, ("L3", "L2", "L1"), "profile")}),
    # OCPP 1.5 cannot be limited, unless a vendor key can throttle it.
    ([member("A", protocol="ocpp1.5-soap"), member("B", protocol="ocpp1.5-soap", throttle_key="MaxAmp")], {},
     {("A", 1): (32.0, ("L1", "L2", "L3"), "none"), ("B", 1): (32.0, ("L1", "L2", "L3"), "throttle")}),
])
def test_build(members, known, expected):
    model = plans.build([circuit("main")], members, known)
    assert {k: (e.model.max_a, e.model.phases, e.control) for k, e in model.evses.items()} == expected


def test_a_sub_circuits_reserve_and_phase_reach_the_model():
    model = plans.build([circuit("main", 63), circuit("lights", 16, 1, "main", "L2", reserve=3)],
                        [member("A", "lights", phases=1, phase="L2")], {})
    lights = next(c for c in model.circuits if c.id == "lights")
    assert (lights.phases, lights.parent, dict(lights.reserve_a)) == (("L2",), "main", {"L2": 3.0})
    assert model.subtree("main") == {"main", "lights"}


def test_safe_shares_hold_when_every_evse_charges_and_count_the_uncontrollable_at_their_maximum():
    model = plans.build([circuit("main", 40)], [member("A"), member("B"), member("OLD", protocol="ocpp1.5-soap",
                                                                                max_a=16)], {})
    shares = plans.safe_shares(model)
    assert shares == {("A", 1): 12.0, ("B", 1): 12.0}  # (40 - 16) / 2


def test_safe_shares_give_nothing_to_evses_whose_minimum_does_not_fit():
    model = plans.build([circuit("main", 14)], [member("A"), member("B"), member("C")], {})
    assert sorted(plans.safe_shares(model).values()) == [0.0, 7.0, 7.0]


@pytest.mark.parametrize("now, expected", [
    (dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), dt.datetime(2026, 1, 1, 12, 10, tzinfo=UTC)),
    (dt.datetime(2026, 1, 1, 12, 4, 59, tzinfo=UTC), dt.datetime(2026, 1, 1, 12, 10, tzinfo=UTC)),
    # The next half window names the next deadline.
    (dt.datetime(2026, 1, 1, 12, 5, 0, tzinfo=UTC), dt.datetime(2026, 1, 1, 12, 15, tzinfo=UTC)),
])
def test_renewal_deadline_is_shared_by_everything_sent_in_one_half_window(now, expected):
    assert profiles.renewal_deadline(now, 600) == expected


def test_a_limit_falls_back_to_the_lower_then_to_the_safe_share():
    now = dt.datetime(2026, 1, 1, 12, 2, 30, 500000, tzinfo=UTC)
    limit = profiles.charging_limit("tx", 2, 20.0, 12.0, now, 600, transaction_id=7)
    assert (limit.purpose, limit.profile_id, limit.connector_number, limit.transaction_id) == ("TxProfile", 2002, 2, 7)
    assert limit.periods() == [(0, 20.0), (450, 12.0), (750, 12.0)]  # T = 12:10:00
    at = lambda minutes: now + dt.timedelta(minutes=minutes)  # noqa: E731
    assert [profiles.limit_at(limit, at(m)) for m in (0, 7, 8, 12, 13, 60)] == [20.0, 20.0, 12.0, 12.0, 12.0, 12.0]
    low = profiles.charging_limit("default", 1, 6.0, 10.0, now, 600)
    assert (low.purpose, low.profile_id) == ("TxDefaultProfile", 1001)
    assert low.periods() == [(0, 6.0), (450, 6.0), (750, 10.0)]
