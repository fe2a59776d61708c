"""The load-management controller: runs the allocation whenever the picture changes and gets the
chargers to apply it, without the site's breakers ever seeing more than their limits.

What keeps it safe, in the order it matters:
- What an EVSE may be drawing is what it last accepted, or its maximum when that is unknown (just
  connected, rebooted, never limited). The allocation counts everything it does not control at
  what it may draw: a charger offline at the most it last accepted (or its safe share, see
  `profiles`), one that cannot be limited (OCPP 1.5 without a throttle key), or one flagged for
  rejecting or ignoring its limits, at its maximum.
- Cuts go first. Raises that use freed capacity are sent only once every cut is accepted; a cut
  that fails pins that EVSE at what it may still draw and the allocation runs again.
- An idle EVSE's default profile lets a new session start at its minimum only where that minimum
  is free; elsewhere at 0 A, until its own limit comes (within a second).
- Raises are rate-limited and small ones (hysteresis) are not sent; cuts always go at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from appliance.config import Settings
from appliance.core import chargers as registry_states
from appliance.core import events as ev
from appliance.core import link as lk
from appliance.dlm import allocation as alloc
from appliance.dlm import plan as plans
from appliance.dlm import profiles
from appliance.dlm.meter_watch import SiteMeters
from appliance.dlm.site_meter import MeterSource, parse_source
from appliance.store.circuits import ActiveSession, EvseLimitRecord, LoadRecord

log = logging.getLogger(__name__)

ACTOR = "system:load-management"
DEBOUNCE_S = 0.05  # events that come together (a meter value per phase, a stop and a status) make one run
MEASURED_FRESH_S = 600.0  # a reading older than this says nothing about what the car takes now
LOAD_RECORD_EVERY_S = 60.0
REJECTING_STATUSES = ("Rejected", lk.NOT_SUPPORTED, lk.CALL_ERROR, lk.ERROR, "NotSupported", "RebootRequired")
Key = plans.Key


@dataclass
class EvseState:
    """What an EVSE has accepted; None where unknown (then it may draw its maximum)."""

    tx_a: float | None = None  # the session's TxProfile
    tx_of: int | None = None  # ... for this session
    default_a: float | None = None  # the default profile (a new session's start), or the throttle key's value
    safe_a: float | None = None  # what its profiles fall back to, as last sent
    accepted_at: dt.datetime | None = None
    cut_at: float = -math.inf  # monotonic: the last accepted cut (the car has a grace time to follow it)
    raised_at: float = -math.inf  # monotonic: the last accepted raise (raises are rate-limited)
    flag: str = ""  # rejects, ignores: held at its maximum
    flag_detail: str = ""
    flagged_at: dt.datetime | None = None
    over_count: int = 0
    measured_a: dict[str, float] = field(default_factory=dict)  # the charger's own phases
    measured_at: float = -math.inf  # monotonic
    target_a: float | None = None  # what the last run gave it
    dirty: bool = False  # to be saved
    # Bumped when the charger (re)connects or reboots: an answer to a profile sent before that says
    # nothing about what it holds now.
    epoch: int = 0

    def in_force(self, session: ActiveSession | None, max_a: float) -> float:
        if session is not None and self.tx_of == session.transaction_id and self.tx_a is not None:
            return self.tx_a
        return self.default_a if self.default_a is not None else max_a

    def most_it_may_draw(self, max_a: float) -> float:
        """For a charger we cannot reach: the most any of its profiles allows, or its maximum."""
        values = [v for v in (self.tx_a, self.default_a) if v is not None]
        if not values:
            return max_a
        return min(max_a, max(values + ([self.safe_a] if self.safe_a is not None else [])))


@dataclass
class Turn:
    admitted_since: float | None = None  # epoch seconds
    waiting_since: float | None = None


@dataclass(frozen=True)
class Change:
    key: Key
    kind: str  # tx, default, throttle
    target_a: float
    current_a: float
    unknown: bool  # what is in force is not known: send whatever the direction


class LoadController:
    def __init__(self, core: Any, settings: Settings,
                 open_meter: Callable[[str], MeterSource] = parse_source) -> None:
        self.core = core
        self.settings = settings
        self.open_meter = open_meter
        self.model = plans.Model((), {}, {})
        self.safe: dict[Key, float] = {}
        self.sessions: dict[Key, ActiveSession] = {}
        self.states: dict[Key, EvseState] = {}
        self.turns: dict[int, Turn] = {}
        self.meters = SiteMeters(open_meter, settings.dlm_meter_interval_s, settings.dlm_meter_stale_s,
                                 on_change=lambda: self._dirty.set())
        self.result: alloc.Allocation | None = None
        self.idle_allowance: dict[Key, float] = {}
        self.held: dict[Key, alloc.Held] = {}
        self.last_run_at: dt.datetime | None = None
        self.last_run_ms = 0.0
        self.runs = 0
        self.problems: list[str] = []
        self._deadline: dt.datetime | None = None
        self._reload_plan = True
        self._reload_sessions = True
        self._renew_all = True
        self._deferred = False  # a raise was held back by the rate limit
        self._metered = False  # meter values came since the last run
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._recorded_at = -math.inf
        self._recorded_waiting: tuple = ()
        self._run_lock = asyncio.Lock()
        self._charger_ids: list[int] = []

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        for record in await self.core.circuits.evse_limits():
            self.states[(record.identity, record.evse_number)] = EvseState(
                tx_a=record.limit_a, default_a=record.default_limit_a, safe_a=record.safe_share_a,
                accepted_at=record.accepted_at, flag=record.flag, flag_detail=record.flag_detail,
                flagged_at=record.flagged_at)
        bus = self.core.bus
        for event_type, handler in (
                (ev.SessionStarted, self._on_session), (ev.SessionStopped, self._on_session_stopped),
                (ev.SessionUpdated, self._on_metered), (ev.ChargerConnected, self._on_connected),
                (ev.ChargerBooted, self._on_booted), (ev.ChargerDisconnected, self._on_connection),
                (ev.ConnectionStateChanged, self._on_connection), (ev.ChargerChanged, self._on_plan),
                (ev.LoadPlanChanged, self._on_plan), (ev.UserGroupChanged, self._on_session),
                (ev.TagChanged, self._on_session)):
            bus.subscribe(event_type, handler)
        self._tasks = [asyncio.create_task(self._run_forever(), name="dlm-controller"),
                       asyncio.create_task(self._tick_forever(), name="dlm-ticks")]
        self._dirty.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.meters.close()
        await self._save_states()

    def poke(self) -> None:
        self._dirty.set()

    async def settled(self) -> None:
        """Wait until no run is due or running (for tests and the CLI's `circuit show`)."""
        while self._dirty.is_set() or self._run_lock.locked():
            await asyncio.sleep(0.01)

    # -- events ---------------------------------------------------------------------------------

    def _on_plan(self, event: ev.Event) -> None:
        self._reload_plan = self._reload_sessions = True
        self._dirty.set()

    def _on_session(self, event: ev.Event) -> None:
        self._reload_sessions = True
        self._dirty.set()

    def _on_session_stopped(self, event: ev.SessionStopped) -> None:
        self.turns.pop(event.transaction_id, None)
        state = self.states.get((event.identity, event.connector_number))
        if state is not None:
            state.measured_a, state.over_count = {}, 0
        self._on_session(event)

    def _on_connection(self, event: ev.Event) -> None:
        self._dirty.set()

    def _on_connected(self, event: ev.ChargerConnected) -> None:
        self._forget(event.identity, clear_flags=False)

    def _on_booted(self, event: ev.ChargerBooted) -> None:
        # A reboot loses what was not stored, and may be a firmware that now follows profiles.
        self._forget(event.identity, clear_flags=True)

    def _forget(self, identity: str, clear_flags: bool) -> None:
        for key, state in self.states.items():
            if key[0] == identity:
                state.tx_a = state.default_a = state.tx_of = None
                state.epoch += 1
                if clear_flags and state.flag:
                    state.flag, state.flag_detail, state.flagged_at = "", "", None
                    self.core.bus.publish(ev.ChargerReported(identity, "load_limit_cleared",
                                                             f"EVSE {key[1]}: trusted again after a reboot"))
                state.dirty = True
        self._dirty.set()

    def _on_metered(self, event: ev.SessionUpdated) -> None:
        key = (event.identity, event.connector_number)
        info = self.model.evses.get(key)
        if info is None or not event.current_a:
            return
        state = self._state(key)
        state.measured_a, state.measured_at = dict(event.current_a), time.monotonic()
        flagged = state.flag
        self._check_obeys(info, state)
        if state.flag != flagged:
            self._dirty.set()
        else:
            # A depot's chargers send meter values all the time and nothing in them is urgent (cuts
            # come from starts, stops and connections): they are taken in at the next tick, which is
            # as often as raises may go out anyway.
            self._metered = True

    def _check_obeys(self, info: plans.EvseInfo, state: EvseState) -> None:
        """A car measured over its limit twice in a row, after the charger had time to bring it
        down, means the charger ignores its limits: flag it and count it at its maximum."""
        session = self.sessions.get(info.key)
        if state.flag or session is None or info.control == plans.NONE:
            return
        limit = state.in_force(session, info.model.max_a)
        if time.monotonic() - state.cut_at < self.settings.dlm_ignore_grace_s or limit >= info.model.max_a:
            return
        drawn = max(state.measured_a.values())
        if drawn <= limit + max(self.settings.dlm_ignore_tolerance_a, 0.1 * limit):
            state.over_count = 0
            return
        state.over_count += 1
        if state.over_count >= 2:
            phase = max(state.measured_a, key=state.measured_a.get)
            self._flag(info.key, state, "ignores",
                       f"drew {drawn:.1f} A on {phase} against a limit of {limit:.1f} A")

    def _flag(self, key: Key, state: EvseState, flag: str, detail: str) -> None:
        state.flag, state.flag_detail, state.flagged_at, state.dirty = flag, detail[:200], ev.utcnow(), True
        log.warning("load management: %s EVSE %s %s (%s); counted at its maximum", key[0], key[1],
                    "rejects its limits" if flag == "rejects" else "ignores its limits", detail)
        self.core.bus.publish(ev.ChargerReported(key[0], f"load_limit_{flag}", f"EVSE {key[1]}: {detail}"))

    async def clear_flag(self, identity: str, evse_number: int | None = None) -> int:
        """Staff vouch for a charger again (after a firmware fix)."""
        cleared = 0
        for key, state in self.states.items():
            if key[0] == identity and (evse_number is None or key[1] == evse_number) and state.flag:
                state.flag, state.flag_detail, state.flagged_at, state.dirty = "", "", None, True
                state.tx_a = state.default_a = None
                cleared += 1
                self.core.bus.publish(ev.ChargerReported(identity, "load_limit_cleared",
                                                         f"EVSE {key[1]}: trusted again"))
        self._dirty.set()
        return cleared

    # -- the loop -------------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(DEBOUNCE_S)
            async with self._run_lock:
                self._dirty.clear()
                self._metered = False
                try:
                    await self.run_once()
                except Exception:
                    log.exception("load management run failed; the limits in force stay")

    async def _tick_forever(self) -> None:
        """Turns come due, renewal windows pass and held-back raises become allowed without any
        event; look again now and then."""
        interval_s = max(0.05, min(self.settings.dlm_fallback_after_s / 8, self.settings.dlm_turn_s / 4,
                                   max(self.settings.dlm_min_interval_s, 0.05), 30.0))
        while True:
            await asyncio.sleep(interval_s)
            deadline = profiles.renewal_deadline(ev.utcnow(), self.settings.dlm_fallback_after_s)
            waiting = bool(self.result and self.result.waiting)
            if self.model.evses and (waiting or self._deferred or self._metered or deadline != self._deadline):
                self._dirty.set()

    async def run_once(self) -> None:
        started = time.perf_counter()
        if self._reload_plan:
            await self._load_plan()
        if self._reload_sessions:
            self._reload_sessions = False
            rows = await self.core.circuits.active_sessions(self._charger_ids)
            self.sessions = {(s.identity, s.evse_number): s for s in rows if (s.identity, s.evse_number)
                             in self.model.evses}
        if not self.model.evses:
            self.result = None
            return
        now = ev.utcnow()
        deadline = profiles.renewal_deadline(now, self.settings.dlm_fallback_after_s)
        renew = self._renew_all or deadline != self._deadline
        pinned: dict[Key, float] = {}
        for _ in range(3):
            changes = self._allocate(now, pinned, renew)
            # Cuts, and in a renewal window every other limit again as it is (a raise follows).
            first = [c if c.unknown or c.target_a < c.current_a else dataclasses.replace(c, target_a=c.current_a)
                     for c in changes if c.unknown or c.target_a < c.current_a or (renew and c.kind != "throttle")]
            failed = await self._apply(first, now, cuts=True)
            if not failed:
                break
            pinned.update(failed)
        else:
            self._dirty.set()  # still not safe to raise; try again shortly
            await self._save_states()
            return
        raises = [c for c in changes if not c.unknown and c.target_a > c.current_a]
        await self._apply(self._allowed_raises(raises, renew), now, cuts=False)
        if renew:
            self._renew_all, self._deadline = False, deadline
        self._update_turns(now)
        await self._save_states()
        await self._record_load(now)
        self.last_run_at, self.last_run_ms = now, (time.perf_counter() - started) * 1000
        self.runs += 1

    async def _load_plan(self) -> None:
        self._reload_plan = False
        circuits = await self.core.circuits.list()
        members = await self.core.circuits.members()
        self._charger_ids = sorted({m.charger_id for m in members})
        known = await self.core.circuits.known_evses(self._charger_ids)
        self.model = plans.build(circuits, members, known)
        self.problems = alloc.validate(self.model.circuits, [e.model for e in self.model.evses.values()])
        if self.problems:
            log.error("load management plan is not sound, nothing is changed: %s", "; ".join(self.problems))
            self.model = plans.Model((), {}, {})
        self.safe = plans.safe_shares(self.model) if self.model.evses else {}
        self._renew_all = True
        await self.meters.watch(circuits)

    # -- allocation -----------------------------------------------------------------------------

    def _allocate(self, now: dt.datetime, pinned: dict[Key, float], renew: bool) -> list[Change]:
        demands, held, idle = [], [], []
        epoch = now.timestamp()
        fresh_after = time.monotonic() - MEASURED_FRESH_S
        for key, info in self.model.evses.items():
            state, session = self._state(key), self.sessions.get(key)
            max_a = info.model.max_a
            if key in pinned:
                held.append(alloc.Held(key, pinned[key], "did not take its new limit"))
            elif not self._online(info.identity):
                held.append(alloc.Held(key, state.most_it_may_draw(max_a), "offline"))
            elif info.control == plans.NONE:
                held.append(alloc.Held(key, max_a, "cannot be limited (OCPP 1.5)"))
            elif state.flag:
                held.append(alloc.Held(key, max_a, f"{state.flag} its limits"))
            elif session is not None:
                measured = state.measured_a if state.measured_at >= fresh_after else {}
                demands.append(alloc.Demand(key, session.priority, session.charge_first,
                                            self._queue_key(session, epoch), measured,
                                            state.in_force(session, max_a)))
            else:
                idle.append(key)
        circuits = self._circuits_now()
        evses = [e.model for e in self.model.evses.values()]
        result = alloc.allocate(circuits, evses, demands, held)
        # Idle EVSEs get their minimum as a start current only from what the sessions leave.
        taken = held + [alloc.Held(d.evse, result.limits[d.evse]) for d in demands]
        idle_set = set(idle)
        start_evses = [dataclasses.replace(e, max_a=e.min_a) if e.key in idle_set else e for e in evses]
        starts = alloc.allocate(circuits, start_evses, [alloc.Demand(k, queue_key=float(i))
                                                        for i, k in enumerate(sorted(idle))], taken).limits
        self.result, self.idle_allowance, self.held = result, starts, {h.evse: h for h in held}
        changes = []
        for key in [d.evse for d in demands] + idle:
            info, state, session = self.model.evses[key], self.states[key], self.sessions.get(key)
            target = result.limits[key] if key in result.limits else starts[key]
            state.target_a = target
            if info.control == plans.THROTTLE:
                kind, current = "throttle", state.default_a
            elif session is not None:
                kind = "tx"
                current = state.tx_a if state.tx_of == session.transaction_id else None
                if current is None and state.default_a is not None:
                    # It runs on its start current until its own limit comes; that goes out now even
                    # when it is the same (a waiting car waits under its session's own profile).
                    current = state.default_a
                    changes.append(Change(key, kind, target, current, unknown=target <= current))
                    continue
            else:
                kind, current = "default", state.default_a
            if current is None:
                changes.append(Change(key, kind, target, info.model.max_a, unknown=True))
            elif renew and self.safe.get(key) != state.safe_a:
                changes.append(Change(key, kind, target, current, unknown=True))  # its fallback changed
            else:
                changes.append(Change(key, kind, target, current, unknown=False))
        return changes

    def _circuits_now(self) -> tuple[alloc.Circuit, ...]:
        """The circuits with a live site meter's reading in place of their static reserve."""
        out = []
        for circuit in self.model.circuits:
            watch = self.meters.fresh(circuit.id)
            if watch is None:
                out.append(circuit)
                continue
            other = dict(watch.current_a)
            if watch.measures == "total":
                drawn = self._measured_by_phase(self.model.subtree(circuit.id))
                other = {p: max(0.0, a - drawn.get(p, 0.0)) for p, a in other.items()}
            below = [c for c in self.model.circuits if c.id in self.model.subtree(circuit.id) - {circuit.id}]
            reserve = {p: max(0.0, other.get(p, 0.0) - sum(c.reserve_a.get(p, 0.0) for c in below))
                       for p in circuit.phases}
            out.append(dataclasses.replace(circuit, reserve_a=reserve))
        return tuple(out)

    def _measured_by_phase(self, circuits: set[str]) -> dict[str, float]:
        """What the cars under these circuits are measured drawing, per site phase."""
        drawn: dict[str, float] = {}
        fresh_after = time.monotonic() - MEASURED_FRESH_S
        for key, info in self.model.evses.items():
            state = self.states.get(key)
            if info.circuit not in circuits or state is None or state.measured_at < fresh_after:
                continue
            for phase, amps in _site_phases(info.model, state.measured_a).items():
                drawn[phase] = drawn.get(phase, 0.0) + amps
        return drawn

    def _queue_key(self, session: ActiveSession, epoch: float) -> float:
        """Who gets a minimum first when not all fit: a car within its turn, then the one that has
        waited longest; a car whose turn is over queues behind every waiting one, the longest
        charging last."""
        turn = self.turns.get(session.transaction_id)
        if turn is not None and turn.admitted_since is not None:
            if epoch - turn.admitted_since < self.settings.dlm_turn_s:
                return turn.admitted_since - 1e10
            return epoch + (epoch - turn.admitted_since) * 1e-6
        if turn is not None and turn.waiting_since is not None:
            return turn.waiting_since
        return session.started_at.timestamp()

    def _update_turns(self, now: dt.datetime) -> None:
        if self.result is None:
            return
        epoch = now.timestamp()
        for key, limit in self.result.limits.items():
            session = self.sessions.get(key)
            if session is None:
                continue
            turn = self.turns.setdefault(session.transaction_id, Turn())
            if limit > 0 and turn.admitted_since is None:
                turn.admitted_since, turn.waiting_since = epoch, None
            elif limit == 0 and turn.waiting_since is None:
                turn.admitted_since, turn.waiting_since = None, epoch

    def _allowed_raises(self, raises: list[Change], renew: bool) -> list[Change]:
        """Raises go out at most every dlm_min_interval_s per EVSE, and not for a step under the
        hysteresis; a session waiting at 0 A, or starting, gets its current at once."""
        now = time.monotonic()
        allowed, self._deferred = [], False
        for change in raises:
            state = self.states[change.key]
            min_a = self.model.evses[change.key].model.min_a
            starting = change.current_a < min_a
            if not starting and change.target_a - change.current_a < self.settings.dlm_hysteresis_a:
                continue
            if not starting and now - state.raised_at < self.settings.dlm_min_interval_s:
                self._deferred = True
                continue
            allowed.append(change)
        return allowed

    # -- sending --------------------------------------------------------------------------------

    async def _apply(self, changes: list[Change], now: dt.datetime, cuts: bool) -> dict[Key, float]:
        """Send the changes at once; the EVSEs that did not take theirs, with what they may still draw."""
        if not changes:
            return {}
        epochs = [self.states[c.key].epoch for c in changes]
        results = await asyncio.gather(*(self._send(c, now) for c in changes))
        failed = {}
        for change, result, epoch in zip(changes, results, epochs):
            state = self.states[change.key]
            if state.epoch != epoch:
                self._dirty.set()  # it reconnected meanwhile: what it holds is unknown again
                if cuts:
                    failed[change.key] = self.model.evses[change.key].model.max_a
                continue
            if result.ok:
                self._accepted(change, state, now, cuts)
                continue
            if result.status in REJECTING_STATUSES:
                self._flag(change.key, state, "rejects", f"answered {result.status} {result.detail}".strip())
            if cuts:
                failed[change.key] = max(change.current_a, change.target_a)
        return failed

    def _accepted(self, change: Change, state: EvseState, now: dt.datetime, cut: bool) -> None:
        if change.kind == "tx":
            state.tx_a, state.tx_of = change.target_a, self.sessions[change.key].transaction_id
        else:
            state.default_a = change.target_a
        if change.kind != "throttle":
            state.safe_a = self.safe.get(change.key)
        state.accepted_at, state.dirty = now, True
        if change.target_a < change.current_a or change.unknown:
            state.cut_at = time.monotonic()
        if change.target_a > change.current_a and not change.unknown:
            state.raised_at = time.monotonic()
        if state.flag == "rejects":
            state.flag, state.flag_detail, state.flagged_at = "", "", None

    async def _send(self, change: Change, now: dt.datetime) -> lk.CommandResult:
        info = self.model.evses[change.key]
        reason = (f"load management: EVSE {info.evse_number} to {change.target_a:g} A "
                  f"(was {'unknown' if change.unknown else f'{change.current_a:g} A'})")
        if change.kind == "throttle":
            return await self.core.commands.send(info.identity, "change_configuration",
                                                 {"key": info.throttle_key, "value": str(int(change.target_a))},
                                                 actor=ACTOR, reason=reason)
        session = self.sessions.get(change.key)
        limit = profiles.charging_limit(change.kind, info.evse_number, change.target_a,
                                        self.safe.get(change.key, change.target_a), now,
                                        self.settings.dlm_fallback_after_s,
                                        session.transaction_id if change.kind == "tx" and session else None)
        return await self.core.commands.send(info.identity, "set_charging_limit", {"limit": limit},
                                             actor=ACTOR, reason=reason)

    # -- helpers --------------------------------------------------------------------------------

    def _state(self, key: Key) -> EvseState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = EvseState()
        return state

    def _online(self, identity: str) -> bool:
        live = self.core.chargers.live.get(identity)
        return (self.core.links.get(identity) is not None and live is not None
                and live.state == registry_states.ONLINE and live.registration == "accepted")

    async def _save_states(self) -> None:
        dirty = [(key, state) for key, state in self.states.items() if state.dirty]
        if not dirty:
            return
        for _, state in dirty:
            state.dirty = False
        await self.core.circuits.save_evse_limits([
            EvseLimitRecord(key[0], key[1], state.tx_a if state.tx_a is not None else state.default_a,
                            state.default_a, state.safe_a, state.accepted_at, state.flag, state.flag_detail,
                            state.flagged_at) for key, state in dirty])

    async def _record_load(self, now: dt.datetime) -> None:
        """A circuit's load goes to its history once a minute, and whenever who waits changes."""
        waiting = tuple(self.result.waiting) if self.result else ()
        if time.monotonic() - self._recorded_at < LOAD_RECORD_EVERY_S and waiting == self._recorded_waiting:
            return
        self._recorded_at, self._recorded_waiting = time.monotonic(), waiting
        status = self.circuit_status()
        await self.core.circuits.record_load([
            LoadRecord(c["name"], now, c["available_a"], c["allocated_a"], c["measured_a"], c["sessions"],
                       len(c["waiting"])) for c in status])

    # -- what staff see -------------------------------------------------------------------------

    def circuit_status(self) -> list[dict[str, Any]]:
        """Each circuit: its limit, what it may carry, what is allocated and measured per phase,
        and each EVSE's limit and draw; waiting sessions in queue order."""
        result = self.result
        circuits = {c.id: c for c in self._circuits_now()} if self.model.circuits else {}
        out = []
        on_circuit: dict[str, list] = {}
        for key, info in sorted(self.model.evses.items()):
            on_circuit.setdefault(info.circuit, []).append((key, info))
        for name, record in sorted(self.model.records.items()):
            circuit = circuits[name]
            below = self.model.subtree(name)
            evses = [self._evse_status(key, info) for key, info in on_circuit.get(name, [])]
            measured = self._measured_by_phase(below)
            watch = self.meters.get(name)
            out.append({
                "name": name, "parent": record.parent, "phases": list(circuit.phases),
                "max_current_a": record.max_current_a, "min_current_a": record.min_current_a,
                "reserve_a": record.reserve_a,
                "reserve_now_a": {p: round(v, 1) for p, v in circuit.reserve_a.items()},
                "meter": None if watch is None else {
                    "url": watch.source.url if watch.source else watch.url, "measures": watch.measures,
                    "current_a": watch.current_a, "fresh": self.meters.fresh(name) is not None, "error": watch.error},
                "available_a": dict(result.available.get(name, {})) if result else {},
                "allocated_a": {p: round(v, 1) for p, v in (result.allocated.get(name, {}) if result else {}).items()},
                "measured_a": {p: round(measured.get(p, 0.0), 1) for p in circuit.phases},
                "overloaded": bool(result and name in result.overloaded),
                "sessions": sum(1 for e in self.model.evses.values() if e.circuit in below and e.key in self.sessions),
                "waiting": [f"{k[0]}/{k[1]}" for k in (result.waiting if result else ())
                            if self.model.evses[k].circuit in below],
                "evses": evses,
            })
        return out

    def _evse_status(self, key: Key, info: plans.EvseInfo) -> dict[str, Any]:
        state, session = self._state(key), self.sessions.get(key)
        held = self.held.get(key)
        if held is not None:
            mode = "held"
        elif session is None:
            mode = "idle"
        elif self.result and key in self.result.waiting:
            mode = "waiting"
        else:
            mode = "charging"
        return {
            "charger": key[0], "evse": key[1], "protocol": info.protocol, "control": info.control,
            "phases": list(info.model.phases), "max_current_a": info.model.max_a, "min_current_a": info.model.min_a,
            "mode": mode, "held_a": held.current_a if held else None, "held_because": held.reason if held else "",
            "transaction_id": session.transaction_id if session else None,
            "priority": session.priority if session else None,
            "charge_first": session.charge_first if session else False,
            "limit_a": state.target_a, "in_force_a": state.in_force(session, info.model.max_a)
            if (state.tx_a is not None or state.default_a is not None) else None,
            "start_current_a": self.idle_allowance.get(key), "safe_share_a": self.safe.get(key),
            "measured_a": {p: round(a, 1) for p, a in state.measured_a.items()},
            "flag": state.flag, "flag_detail": state.flag_detail,
            "flagged_at": state.flagged_at.isoformat() if state.flagged_at else None,
        }

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True, "problems": self.problems, "runs": self.runs,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_run_ms": round(self.last_run_ms, 2), "circuits": self.circuit_status(),
        }


def _site_phases(evse: alloc.Evse, measured: dict[str, float]) -> dict[str, float]:
    """A car's draw on its charger's phases, as site phases (rotation applied)."""
    if len(evse.phases) == 1:
        return {evse.phases[0]: max(measured.values(), default=0.0)}
    index = {"L1": 0, "L2": 1, "L3": 2}
    return {evse.phases[index[p]]: a for p, a in measured.items() if p in index}
