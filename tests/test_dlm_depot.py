"""Load management end to end: virtual chargers (OCPP 1.6 JSON and 2.0.1, 3-phase and 1-phase) on one
32 A circuit, talking to the real appliance over loopback.

A watcher plays the site's breaker: whenever a charger takes a profile or a session starts or ends,
it adds up, per site phase, the limit each charging EVSE applies at that moment (its session's
TxProfile, else its default profile, else its hardware maximum) and records any excess."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from appliance.dlm.allocation import wiring
from appliance.web.keys import DLM
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201, now_wire

LIMIT_A = 32.0
HARDWARE_MAX_A = 32.0


def schedule_of(profile: dict[str, Any]) -> dict[str, Any]:
    schedule = profile["charging_schedule"]
    return schedule[0] if isinstance(schedule, list) else schedule  # 2.0.1 has a list of schedules


def limit_now(profile: dict[str, Any], at: dt.datetime) -> float:
    """The limit of the schedule's period running at `at` (the first one until the schedule starts)."""
    schedule = schedule_of(profile)
    start = dt.datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
    periods = sorted(schedule["charging_schedule_period"], key=lambda p: p["start_period"])
    value = float(periods[0]["limit"])
    for period in periods[1:]:
        if (at - start).total_seconds() >= period["start_period"]:
            value = float(period["limit"])
    return value


class Breaker:
    def __init__(self) -> None:
        self.evses: dict[str, tuple[Any, int, tuple[str, ...]]] = {}  # name -> (charger, evse, site phases)
        self.sessions: dict[str, Any] = {}  # name -> the charger's transaction id
        self.peak = {"L1": 0.0, "L2": 0.0, "L3": 0.0}
        self.excess: list[str] = []

    def add(self, name: str, cp: Any, evse: int, phases: tuple[str, ...]) -> None:
        self.evses[name] = (cp, evse, phases)
        cp.profile_changed = self.check

    def applied(self, name: str) -> float:
        cp, evse, _ = self.evses[name]
        at = dt.datetime.now(dt.timezone.utc)
        mine = [p for on, p in cp.profiles.values() if on == evse]
        tx = [p for p in mine if p["charging_profile_purpose"] == "TxProfile"
              and p.get("transaction_id") == self.sessions.get(name)]
        default = [p for p in mine if p["charging_profile_purpose"] == "TxDefaultProfile"]
        chosen = tx or default
        if not chosen:
            return HARDWARE_MAX_A
        return limit_now(max(chosen, key=lambda p: p["stack_level"]), at)

    def check(self) -> None:
        load = {"L1": 0.0, "L2": 0.0, "L3": 0.0}
        for name in self.sessions:
            for phase in self.evses[name][2]:
                load[phase] += self.applied(name)
        for phase, amps in load.items():
            self.peak[phase] = max(self.peak[phase], amps)
            if amps > LIMIT_A + 1e-6:
                self.excess.append(f"{phase}: {amps} A with {sorted(self.sessions)}")

    def started(self, name: str, tx: Any) -> None:
        self.sessions[name] = tx
        self.check()

    def stopped(self, name: str) -> None:
        del self.sessions[name]
        self.check()


async def start16(cp, breaker: Breaker, name: str, tag: str) -> int:
    answer = await cp.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now_wire()))
    breaker.started(name, answer.transaction_id)
    return answer.transaction_id


async def draw16(cp, tx: int, currents: dict[str, float]) -> None:
    await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
        "timestamp": now_wire(), "sampled_value": [
            {"value": f"{a:.1f}", "measurand": "Current.Import", "unit": "A", "phase": p} for p, a in currents.items()]}]))


async def start201(cs, breaker: Breaker, name: str, tag: str, tx: str) -> None:
    await cs.transaction_event("Started", tx, 0, "Authorized", id_token=tag, energy_wh=0)
    breaker.started(name, tx)


async def draw201(cs, tx: str, seq: int, currents: dict[str, float]) -> None:
    await cs.call(call201.TransactionEvent(
        event_type="Updated", timestamp=now_wire(), trigger_reason="MeterValuePeriodic", seq_no=seq,
        transaction_info={"transaction_id": tx}, evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": now_wire(), "sampled_value": [
            {"value": a, "measurand": "Current.Import", "phase": p, "unit_of_measure": {"unit": "A"}}
            for p, a in currents.items()]}]))


def tx_limit(cp, evse: int, tx: Any) -> float | None:
    for on, p in cp.profiles.values():
        if on == evse and p["charging_profile_purpose"] == "TxProfile" and p.get("transaction_id") == tx:
            return limit_now(p, dt.datetime.now(dt.timezone.utc))
    return None


@pytest.fixture
async def depot(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "data", dlm_min_interval_s=0.0, dlm_hysteresis_a=0.5,
                                              dlm_ignore_grace_s=0.0))
    core = app.core
    await add_fleet(core, {t: {} for t in ("TAG-A", "TAG-B", "TAG-C", "TAG-D")})
    for identity, protocol in (("A16", "ocpp1.6-json"), ("B16", "ocpp1.6-json"), ("C201", "ocpp2.0.1"),
                               ("D201", "ocpp2.0.1")):
        await core.chargers.add(identity, protocol)
    await core.circuits.add("main", 32.0, 3)
    await core.circuits.assign("main", "A16", phases=3)  # 3-phase, standard rotation
    await core.circuits.assign("main", "B16", phases=1, phase="L2")  # 1-phase on L2
    await core.circuits.assign("main", "C201", phases=3, rotation="STR")
    await core.circuits.assign("main", "D201", phases=1, phase="L3")
    return app


async def test_profiles_never_sum_above_the_breaker_a_stop_frees_capacity_and_an_offline_charger_keeps_its_share(
        depot):
    breaker = Breaker()
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(connect16(depot.url, "A16"))
        b = await stack.enter_async_context(connect16(depot.url, "B16"))
        c_stack = await stack.enter_async_context(contextlib.AsyncExitStack())
        c = await c_stack.enter_async_context(connect201(depot.url, "C201"))
        d = await stack.enter_async_context(connect201(depot.url, "D201"))
        breaker.add("A", a, 1, wiring(3))
        breaker.add("B", b, 1, wiring(1, "L2"))
        breaker.add("C", c, 1, wiring(3, rotation="STR"))
        breaker.add("D", d, 1, wiring(1, "L3"))
        # Chargers take their time to apply a profile, each its own: a raise sent alongside a cut
        # elsewhere would land first.
        a.profile_delay_s, b.profile_delay_s, c.profile_delay_s, d.profile_delay_s = 0.0, 0.05, 0.02, 0.1
        # Every idle EVSE gets its default profile (a new session's start current) before anything.
        await wait_for(lambda: all(any(p["charging_profile_purpose"] == "TxDefaultProfile" for _, p in cp.profiles.values())
                                   for cp in (a, b, c, d)), timeout=15)
        tx_a = await start16(a, breaker, "A", "TAG-A")
        tx_b = await start16(b, breaker, "B", "TAG-B")
        await start201(c, breaker, "C", "TAG-C", "c-tx-1")
        await wait_for(lambda: tx_limit(a, 1, tx_a) and tx_limit(b, 1, tx_b) and tx_limit(c, 1, "c-tx-1"), timeout=15)
        # L2 carries all three sessions: 32 A shared; each car gets a fair part and at least its minimum.
        limits = {n: breaker.applied(n) for n in "ABC"}
        assert all(6 <= v <= 32 for v in limits.values()), limits
        assert sum(limits.values()) == pytest.approx(32, abs=0.3)

        # The cars draw what they are given; B's car stops. Within a second A and C share B's part.
        await draw16(a, tx_a, {"L1": limits["A"], "L2": limits["A"], "L3": limits["A"]})
        await draw201(c, "c-tx-1", 1, {"L1": limits["C"], "L2": limits["C"], "L3": limits["C"]})
        before = tx_limit(a, 1, tx_a), tx_limit(c, 1, "c-tx-1")
        stopped_at = time.monotonic()
        await b.call(call16.StopTransaction(meter_stop=1000, timestamp=now_wire(), transaction_id=tx_b))
        breaker.stopped("B")
        await wait_for(lambda: tx_limit(a, 1, tx_a) > before[0] and tx_limit(c, 1, "c-tx-1") > before[1], timeout=1.0)
        freed_in_s = time.monotonic() - stopped_at
        assert freed_in_s < 1.0
        assert tx_limit(a, 1, tx_a) + tx_limit(c, 1, "c-tx-1") == pytest.approx(32, abs=0.3)

        # C drops off the network while its car charges: its last limit stays counted as drawn.
        c_share = tx_limit(c, 1, "c-tx-1")
        await c_stack.aclose()
        dlm = depot.server.app[DLM]
        await wait_for(lambda: _evse(dlm, "C201")["mode"] == "held", timeout=15)
        assert _evse(dlm, "C201")["held_a"] == pytest.approx(c_share)
        # A new session on D (L3, a 2.0.1 station) gets only what C's held shares and A leave: at
        # least its minimum, or nothing while it waits its turn. What C holds depends on when it
        # dropped off: its idle EVSE keeps the most its last default profile allows, whose safe
        # fallback may be more than the start current it had then.
        await start201(d, breaker, "D", "TAG-D", "d-tx-1")
        await wait_for(lambda: tx_limit(d, 1, "d-tx-1") is not None, timeout=15)
        await depot.api("GET", "/api/v1/load-management?settled=1")
        held_by_c = sum(e["held_a"] or 0 for circuit in dlm.circuit_status() for e in circuit["evses"]
                        if e["charger"] == "C201")
        d_limit = tx_limit(d, 1, "d-tx-1")
        assert tx_limit(a, 1, tx_a) + held_by_c + d_limit <= 32 + 1e-6
        assert d_limit >= 6 or (d_limit == 0 and _evse(dlm, "D201")["mode"] == "waiting")
    assert breaker.excess == []
    assert max(breaker.peak.values()) <= LIMIT_A


def _evse(dlm, identity: str) -> dict[str, Any]:
    return next(e for c in dlm.circuit_status() for e in c["evses"] if e["charger"] == identity)
