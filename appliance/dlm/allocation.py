"""Dynamic load management: how many amperes each charging session may draw, as a pure function.

In: the depot's circuits (a tree per grid connection: main breaker at the root, sub-boards beneath,
each with a per-phase limit and the load the appliance cannot control), its EVSEs (on which circuit,
on which site phases), the sessions that want current, and the loads that are counted but not
allocated (chargers offline, ignoring profiles or not controllable). Out: one limit per EVSE, the
same on every phase it draws on, such that no circuit is over its limit on any phase.

How: minimums first, in priority and queue order (a car gets its minimum or nothing: below it a car
does not charge at all); then, class by class from the highest, the admitted cars' limits rise
together (max-min fairness) until each meets its cap or a full circuit. Everything is counted in
integer steps (`Policy.step_a`, deci-amps by default) so that "fits" is exact, with no float drift.

No I/O, no clock, standard library only: the controller in this package feeds it and applies it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

PHASES = ("L1", "L2", "L3")
# OCPP PhaseRotation: the letters R, S, T are site L1, L2, L3, in the order of the charger's L1, L2, L3.
ROTATIONS: dict[str, tuple[str, str, str]] = {
    "RST": ("L1", "L2", "L3"),
    "RTS": ("L1", "L3", "L2"),
    "SRT": ("L2", "L1", "L3"),
    "STR": ("L2", "L3", "L1"),
    "TRS": ("L3", "L1", "L2"),
    "TSR": ("L3", "L2", "L1"),
}
_PHASE_INDEX = {p: i for i, p in enumerate(PHASES)}
_EPS = 1e-9  # a float within this many steps of a whole step is that step (6.3 / 0.1 = 62.99999999999999)
_WIRINGS = {(p,) for p in PHASES} | set(ROTATIONS.values())  # every valid Evse.phases
_FROZEN, _PENDING, _RISING = 0, 1, 2


def wiring(phases: int, phase: str = "L1", rotation: str = "RST") -> tuple[str, ...]:
    """The site phases an EVSE draws on, in the order of the charger's own phases L1, L2, L3:
    1-phase -> (phase,), 3-phase -> ROTATIONS[rotation]. A 1-phase EVSE ignores `rotation` (OCPP
    reports NotApplicable for it); a 3-phase one ignores `phase`."""
    if isinstance(phases, bool) or phases not in (1, 3):
        raise ValueError(f"an EVSE has 1 or 3 phases, not {phases!r}")
    if phases == 1:
        if phase not in PHASES:
            raise ValueError(f"phase {phase!r} is not one of {', '.join(PHASES)}")
        return (phase,)
    if rotation not in ROTATIONS:
        raise ValueError(f"phase rotation {rotation!r} is not one of {', '.join(ROTATIONS)}")
    return ROTATIONS[rotation]


@dataclass(frozen=True)
class Circuit:
    id: str
    limit_a: float                      # per phase
    phases: tuple[str, ...] = PHASES    # site phases it carries, e.g. ("L2",) for a 1-phase sub-circuit on L2
    parent: str | None = None
    # Per site phase: load the appliance cannot control on this circuit itself (not its sub-circuits);
    # it counts on this circuit and every ancestor. A negative value counts as 0: capacity is never
    # created from a reading (export, or a site meter minus the chargers dipping below zero).
    reserve_a: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evse:
    key: Hashable                        # e.g. ("CP1", 1)
    circuit: str
    max_a: float
    min_a: float = 6.0
    phases: tuple[str, ...] = PHASES     # site phases in charger-phase order, from wiring()


@dataclass(frozen=True)
class Demand:
    """A session on an EVSE that wants current."""

    evse: Hashable
    priority: int = 0                    # higher first
    charge_first: bool = False           # staff flag: above every priority
    queue_key: float = 0.0               # lower goes first when minimums do not all fit
    # CHARGER phase ("L1", "L2", "L3") -> amperes now; {} unknown. Other labels (N) are ignored; a reading
    # that is negative or not a number makes the whole measurement count as unknown.
    measured_a: Mapping[str, float] = field(default_factory=dict)
    last_limit_a: float | None = None    # the limit in force when it was measured


@dataclass(frozen=True)
class Held:
    """Capacity counted on an EVSE but not allocated by this run: a charger offline (its last limit,
    assumed drawn), one that ignores profiles (its maximum), one that cannot be controlled (OCPP 1.5,
    its maximum), or the start current reserved for an idle EVSE."""

    evse: Hashable
    current_a: float                     # on each of the EVSE's phases
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    step_a: float = 0.1          # limits are multiples of this (charging profiles carry one decimal)
    unused_margin_a: float = 1.0 # a car drawing this much less than its limit on every phase takes less than offered
    headroom_a: float = 2.0      # ... and is then offered what it draws plus this (at least its min, at most its max)
    # The margin is below the headroom so a capped car that keeps drawing the same stays capped; with
    # them equal it would look like it used its whole limit and be raised, then capped, at every reading.
    phase_in_use_a: float = 1.0  # measured, a phase under this is not in use by the car (if at least one phase is)


@dataclass(frozen=True)
class Allocation:
    limits: dict[Hashable, float]                 # every Demand's EVSE -> A per phase; 0.0 = waiting
    waiting: tuple[Hashable, ...]                 # demands that got 0, in queue order
    wanted: dict[Hashable, float]                 # each demand's cap (what it would take)
    phases_used: dict[Hashable, tuple[str, ...]]  # site phases each demand is counted on
    allocated: dict[str, dict[str, float]]        # circuit -> site phase -> A counted below it (limits + held)
    available: dict[str, dict[str, float]]        # circuit -> site phase -> limit - reserves in its subtree
    overloaded: tuple[str, ...]                   # circuits that held loads and reserves alone put over the limit


# ---- validation ----

def validate(circuits: Iterable[Circuit], evses: Iterable[Evse]) -> list[str]:
    """Human-readable problems, empty when the model is sound. Several roots (independent trees) are fine."""
    circuits, evses = list(circuits), list(evses)
    problems: list[str] = []
    by_id: dict[str, Circuit] = {}
    for circuit in circuits:
        if circuit.id in by_id:
            problems.append(f"circuit {circuit.id!r} is defined twice")
            continue
        by_id[circuit.id] = circuit
        problems += _circuit_problems(circuit)
    for circuit in by_id.values():
        parent = by_id.get(circuit.parent) if circuit.parent is not None else None
        if circuit.parent is not None and parent is None:
            problems.append(f"circuit {circuit.id!r}: parent {circuit.parent!r} is not a circuit")
        elif parent is not None:
            for phase in circuit.phases:
                if phase in PHASES and phase not in parent.phases:
                    problems.append(f"circuit {circuit.id!r} carries {phase}, which its parent {parent.id!r} "
                                    "does not")
    problems += _cycle_problems(by_id)
    keys: set[Hashable] = set()
    for evse in evses:
        if evse.key in keys:
            problems.append(f"EVSE {evse.key!r} is defined twice")
            continue
        keys.add(evse.key)
        problems += _evse_problems(evse, by_id.get(evse.circuit))
    return problems


def _circuit_problems(circuit: Circuit) -> list[str]:
    name = f"circuit {circuit.id!r}"
    problems = []
    if not _is_amperes(circuit.limit_a):
        problems.append(f"{name}: limit {circuit.limit_a!r} A is not a finite, non-negative number")
    problems += _phase_list_problems(name, circuit.phases)
    for phase, reserve_a in circuit.reserve_a.items():
        if phase not in circuit.phases:
            problems.append(f"{name}: reserve on {phase!r}, a phase it does not carry")
        if not _is_number(reserve_a):
            problems.append(f"{name}: reserve {reserve_a!r} A on {phase} is not a finite number")
    return problems


def _cycle_problems(by_id: Mapping[str, Circuit]) -> list[str]:
    problems = []
    done: set[str] = set()
    for start in by_id:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node in by_id and node not in done and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = by_id[node].parent
        if node in on_path:
            cycle = path[path.index(node):] + [node]
            problems.append("circuits " + " -> ".join(repr(c) for c in cycle) + " form a cycle")
        done.update(path)
    return problems


def _evse_problems(evse: Evse, circuit: Circuit | None) -> list[str]:
    min_a, max_a = evse.min_a, evse.max_a
    if not isinstance(evse.phases, tuple):  # it is a key of the allocation's own tables
        return [f"EVSE {evse.key!r}: phases {evse.phases!r} must be a tuple, as wiring() gives"]
    if (circuit is not None and evse.phases in _WIRINGS and _carries(circuit.phases, evse.phases)
            and _is_amperes(min_a) and _is_amperes(max_a) and min_a <= max_a):
        return []  # the common case, found cheaply: this runs for every EVSE on every allocation
    name = f"EVSE {evse.key!r}"
    problems = []
    if circuit is None:
        problems.append(f"{name}: circuit {evse.circuit!r} is not a circuit")
    problems += _phase_list_problems(name, evse.phases)
    if len(evse.phases) not in (1, 3):
        problems.append(f"{name}: has {len(evse.phases)} phases, expected 1 or 3")
    if circuit is not None:
        for phase in evse.phases:
            if phase in PHASES and phase not in circuit.phases:
                problems.append(f"{name} draws on {phase}, which its circuit {circuit.id!r} does not carry")
    for label, value_a in (("minimum", min_a), ("maximum", max_a)):
        if not _is_amperes(value_a):
            problems.append(f"{name}: {label} {value_a!r} A is not a finite, non-negative number")
    if _is_amperes(min_a) and _is_amperes(max_a) and min_a > max_a:
        problems.append(f"{name}: minimum {min_a} A is above its maximum {max_a} A")
    return problems


def _carries(circuit_phases: tuple[str, ...], phases: tuple[str, ...]) -> bool:
    return circuit_phases == PHASES or all(p in circuit_phases for p in phases)


def _phase_list_problems(name: str, phases: tuple[str, ...]) -> list[str]:
    problems = [f"{name}: phase {p!r} is not one of {', '.join(PHASES)}" for p in phases if p not in PHASES]
    if not phases:
        problems.append(f"{name}: carries no phase")
    if len(set(phases)) != len(phases):
        problems.append(f"{name}: a phase is listed twice in {tuple(phases)!r}")
    return problems


def _input_problems(evses: dict[Hashable, Evse], demands: list[Demand], held: list[Held],
                    policy: Policy) -> list[str]:
    problems = []
    if not (_is_number(policy.step_a) and policy.step_a > 0):
        problems.append(f"policy: step {policy.step_a!r} A must be a positive number")
    for label in ("unused_margin_a", "headroom_a", "phase_in_use_a"):
        if not _is_amperes(getattr(policy, label)):
            problems.append(f"policy: {label} {getattr(policy, label)!r} is not a finite, non-negative number")
    named: set[Hashable] = set()
    for item in [*demands, *held]:
        kind = "demand" if isinstance(item, Demand) else "held load"
        if item.evse not in evses:
            problems.append(f"{kind} for EVSE {item.evse!r}, which is not an EVSE")
        if item.evse in named:
            problems.append(f"EVSE {item.evse!r} has more than one demand or held load")
        named.add(item.evse)
    for h in held:
        if not _is_amperes(h.current_a):
            problems.append(f"held load on EVSE {h.evse!r}: {h.current_a!r} A is not a finite, non-negative number")
    for d in demands:
        if not (_is_number(d.queue_key) or d.queue_key in (math.inf, -math.inf)):
            problems.append(f"demand for EVSE {d.evse!r}: queue key {d.queue_key!r} is not a number")
        if isinstance(d.priority, bool) or not isinstance(d.priority, int):
            problems.append(f"demand for EVSE {d.evse!r}: priority {d.priority!r} is not a whole number")
        if d.last_limit_a is not None and not _is_number(d.last_limit_a):
            problems.append(f"demand for EVSE {d.evse!r}: last limit {d.last_limit_a!r} A is not a finite number")
    return problems


def _is_number(value: object) -> bool:
    if value.__class__ is float:  # the common case, cheaply: x - x is nan for inf and nan
        return value - value == 0.0  # type: ignore[operator]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_amperes(value: object) -> bool:
    return _is_number(value) and value >= 0  # type: ignore[operator]


# ---- allocation ----

def allocate(circuits: Iterable[Circuit], evses: Iterable[Evse], demands: Iterable[Demand],
             held: Iterable[Held] = (), policy: Policy = Policy()) -> Allocation:
    """Limits for every demand (see the module docstring). ValueError if validate() finds problems, a
    demand or held load names an unknown EVSE, or two of them name the same EVSE."""
    circuits, evses, demands, held = list(circuits), list(evses), list(demands), list(held)
    evse_by_key = {e.key: e for e in evses}
    problems = validate(circuits, evses) + _input_problems(evse_by_key, demands, held, policy)
    if problems:
        raise ValueError("load management model: " + "; ".join(problems))
    units = _Units(policy.step_a)
    grid = _Grid(circuits, units)
    # Held loads are fixed: whatever they and the reserves take is gone before any demand is counted.
    held_loads = [(grid.constraints[grid.group(evse_by_key[h.evse].circuit, evse_by_key[h.evse].phases)],
                   units.up(h.current_a)) for h in held]
    slack = grid.available[:]
    for ks, current in held_loads:
        for k in ks:
            slack[k] -= current
    overloaded_at = {k // 3 for k, left in enumerate(slack) if left < 0}
    # Under an overloaded circuit every controllable load is shed: the circuit is in a fault state.
    shed = {c.id for c in grid.circuits if overloaded_at.intersection(grid.path[c.id])}

    order = _queue_order(demands)
    min_u, cap_u, used, group = _demand_facts(order, evse_by_key, policy, units, grid)
    admittable = [min_u[i] <= cap_u[i] and evse_by_key[d.evse].circuit not in shed for i, d in enumerate(order)]
    cons = [grid.constraints[g] for g in group]
    limit_u = [0] * len(order)
    state = [_FROZEN] * len(order)
    n, version = [0] * len(slack), [0] * len(slack)
    # Charge-first sessions (a taxi that must leave) are served whole, minimum and fill, before any
    # other gets even its minimum; the others get minimums for as many as fit, then fill by priority.
    for charge_first in (True, False):
        tier = [ok and d.charge_first == charge_first for ok, d in zip(admittable, order)]
        for members in _by_class(order, _admit(tier, min_u, cons, slack)):
            _fill(members, min_u, cap_u, group, grid.constraints, slack, limit_u, state, n, version)
    return _result(order, limit_u, cap_u, used, group, grid, held_loads, overloaded_at, units)


def _demand_facts(order: list[Demand], evse_by_key: dict[Hashable, Evse], policy: Policy, units: _Units,
                  grid: _Grid) -> tuple[list[int], list[int], list[tuple[str, ...]], list[int]]:
    """Per demand, in queue order: minimum and cap in steps, site phases counted on, constraint group."""
    min_u, cap_u, used, group = [], [], [], []
    for demand in order:
        evse = evse_by_key[demand.evse]
        measured = _usable(demand.measured_a) if demand.measured_a else demand.measured_a
        min_u.append(units.up(evse.min_a))
        cap_u.append(_cap(evse, measured, demand.last_limit_a, policy, units, min_u[-1]))
        used.append(_phases_used(evse, measured, policy))
        group.append(grid.group(evse.circuit, used[-1]))
    return min_u, cap_u, used, group


def _usable(measured_a: Mapping[str, float]) -> Mapping[str, float]:
    """The phase readings of a measurement, or none at all if any is not a current drawn (negative, not
    a number): a charger's odd reading must not stop the whole depot's allocation, and unmeasured is
    the safe reading (its maximum on all its phases). Other labels, such as N, are not a phase a car
    draws on and are left out."""
    phases = {label: value_a for label, value_a in measured_a.items() if label in _PHASE_INDEX}
    return phases if all(_is_amperes(value_a) for value_a in phases.values()) else {}


def _admit(admittable: list[bool], min_u: list[int], cons: list[tuple[int, ...]], slack: list[int]) -> list[int]:
    """Minimums in queue order: a demand is admitted if its minimum fits everywhere on its path, given
    the minimums before it (taken from `slack`); the others wait. Returns the admitted, in order."""
    admitted = []
    for i, ks in enumerate(cons):
        if not admittable[i]:
            continue
        need = min_u[i]
        for k in ks:
            if slack[k] < need:
                break
        else:
            admitted.append(i)
            for k in ks:
                slack[k] -= need
    return admitted


def _by_class(order: list[Demand], admitted: list[int]) -> Iterable[list[int]]:
    """The admitted demands class by class, highest first (`order` is sorted by class first)."""
    start = 0
    while start < len(admitted):
        klass = _klass(order[admitted[start]])
        end = start
        while end < len(admitted) and _klass(order[admitted[end]]) == klass:
            end += 1
        yield admitted[start:end]
        start = end


def _queue_order(demands: list[Demand]) -> list[Demand]:
    """Class (charge_first, priority) highest first, then queue key; ties by the EVSE key's str() and
    repr(), so that the order the demands came in never decides."""
    rank = [(not d.charge_first, -d.priority, d.queue_key) for d in demands]
    if len(set(rank)) == len(rank):  # no ties, the usual case: spare formatting thousands of keys
        return [demands[i] for i in sorted(range(len(demands)), key=rank.__getitem__)]
    return sorted(demands, key=lambda d: (not d.charge_first, -d.priority, d.queue_key, str(d.evse), repr(d.evse)))


def _klass(demand: Demand) -> tuple[bool, int]:
    return (demand.charge_first, demand.priority)


def _cap(evse: Evse, measured_a: Mapping[str, float], last_limit_a: float | None, policy: Policy, units: _Units,
         min_u: int) -> int:
    """What the demand would take, in steps: its maximum, unless it was measured drawing clearly less
    than it was offered; then what it draws plus headroom (so it can show it wants more next time)."""
    max_u = units.down(evse.max_a)
    if not measured_a or last_limit_a is None or max_u < min_u:
        return max_u  # (below its minimum: no step between min and max, it can never be given a limit)
    largest_a = max(measured_a.values())
    if largest_a < last_limit_a - policy.unused_margin_a:
        return max(min_u, min(max_u, units.down(largest_a + policy.headroom_a)))
    return max_u


def _phases_used(evse: Evse, measured: Mapping[str, float], policy: Policy) -> tuple[str, ...]:
    """The site phases a demand is counted on: those the car was measured drawing on, else all the
    EVSE's. A car charging on one phase of a 3-phase EVSE so leaves the other two to others."""
    if not measured or len(evse.phases) == 1:
        return evse.phases  # a 1-phase EVSE's only phase, whatever phase label its reading carries
    in_use = [_PHASE_INDEX[label] for label, value_a in measured.items() if value_a >= policy.phase_in_use_a]
    if not in_use or len(in_use) == 3:
        return evse.phases
    return tuple(site for i, site in enumerate(evse.phases) if i in in_use)


class _Units:
    """Amperes as whole steps, rounded the safe way (limits and maxima down, loads and minima up), and
    back. Memoised: the same few values recur for thousands of EVSEs on every run."""

    def __init__(self, step: float):
        self.step = step
        self.digits = _digits(step)
        self._down: dict[float, int] = {}
        self._up: dict[float, int] = {}
        self._amps: dict[int, float] = {}

    def down(self, value_a: float) -> int:
        found = self._down.get(value_a)
        if found is None:
            found = self._down[value_a] = _steps(value_a, self.step, up=False)
        return found

    def up(self, value_a: float) -> int:
        found = self._up.get(value_a)
        if found is None:
            found = self._up[value_a] = _steps(value_a, self.step, up=True)
        return found

    def amps(self, steps: int) -> float:
        found = self._amps.get(steps)
        if found is None:
            found = self._amps[steps] = round(steps * self.step, self.digits)
        return found


def _steps(value_a: float, step: float, up: bool) -> int:
    exact = value_a / step
    nearest = round(exact)
    if abs(exact - nearest) <= _EPS * max(1.0, abs(exact)):
        return int(nearest)
    return math.ceil(exact) if up else math.floor(exact)


def _digits(step: float) -> int:
    """Decimal places that show a multiple of `step` exactly (1 for 0.1 A)."""
    for digits in range(12):
        if abs(round(step, digits) - step) <= 1e-12 * step:
            return digits
    return 12


class _Grid:
    """The circuit tree in indices. Constraint k = circuit index * 3 + phase index. A group is every
    constraint a load on one circuit drawing on some phases counts on: its circuit's and its ancestors'
    on those phases. Demands in one group move together, so the filling counts them per group."""

    def __init__(self, circuits: list[Circuit], units: _Units):
        ordered = sorted(circuits, key=lambda c: str(c.id))
        self.circuits = ordered
        self.index = {c.id: i for i, c in enumerate(ordered)}
        self.path: dict[str, tuple[int, ...]] = {}  # circuit id -> its index and its ancestors', up to the root
        for circuit in ordered:
            self._path(circuit.id)
        self.available = [0] * (3 * len(ordered))
        for i, circuit in enumerate(ordered):
            for phase in circuit.phases:
                self.available[3 * i + _PHASE_INDEX[phase]] += units.down(circuit.limit_a)
            for phase, reserve_a in circuit.reserve_a.items():
                reserve = units.up(max(reserve_a, 0.0))
                for j in self.path[circuit.id]:
                    self.available[3 * j + _PHASE_INDEX[phase]] -= reserve
        self.constraints: list[tuple[int, ...]] = []  # group -> its constraints
        self._groups: dict[tuple[str, tuple[str, ...]], int] = {}

    def _path(self, circuit_id: str) -> tuple[int, ...]:
        if circuit_id not in self.path:
            parent = self.circuits[self.index[circuit_id]].parent
            self.path[circuit_id] = (self.index[circuit_id],) + (self._path(parent) if parent is not None else ())
        return self.path[circuit_id]

    def group(self, circuit_id: str, phases: tuple[str, ...]) -> int:
        key = (circuit_id, phases)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = len(self.constraints)
            offsets = [_PHASE_INDEX[p] for p in phases]
            self.constraints.append(tuple([3 * j + o for j in self.path[circuit_id] for o in offsets]))
        return found


def _fill(members: list[int], min_u: list[int], cap_u: list[int], group: list[int], constraints: list[tuple[int, ...]],
          slack: list[int], limit_u: list[int], state: list[int], n: list[int], version: list[int]) -> None:
    """Progressive filling of one class, in place: its admitted demands (already at their minimums, in
    `slack`) rise together at a common level L, each clamped to [its min, its cap], until its cap or a
    full constraint stops it. `slack` is left holding what the class did not take; `n` all zero again.

    Event-driven rather than step by step: while n[k] demands rise on constraint k, its slack at level
    L is base[k] - n[k] * L, so it can give all of them a step up to level base[k] // n[k]. At that
    level it can give a step to fewer than n[k]: those get it in queue order, the rest freeze. Demands
    starting or stopping touch only the constraints of their own group; nothing is recomputed from
    scratch. Demand indices are their queue positions."""
    for i in members:
        limit_u[i] = min_u[i]
    rising = [i for i in members if cap_u[i] > min_u[i]]
    if not rising:
        return
    base = slack  # with no demand rising, base[k] is the slack itself; so it is again at the end
    members_of: dict[int, list[int]] = {}  # group -> its demands of this class not frozen yet, queue order
    for i in rising:
        state[i] = _PENDING
        found = members_of.get(group[i])
        if found is None:
            members_of[group[i]] = [i]
        else:
            found.append(i)
    groups_on: dict[int, list[int]] = {}  # constraint -> the groups counted on it
    for g in members_of:
        for k in constraints[g]:
            groups_on.setdefault(k, []).append(g)
    starts = sorted(rising, key=min_u.__getitem__)  # stable: queue order among equals
    stops = sorted(rising, key=cap_u.__getitem__)
    binds: list[tuple[int, int, int]] = []  # (level at which k cannot give everyone a step, k, version)
    next_start = next_stop = 0
    total = len(rising)
    while True:
        level = min_u[starts[next_start]] if next_start < total else None
        while next_stop < total and state[stops[next_stop]] == _FROZEN:
            next_stop += 1
        if next_stop < total and (level is None or cap_u[stops[next_stop]] < level):
            level = cap_u[stops[next_stop]]
        while binds and binds[0][2] != version[binds[0][1]]:
            heapq.heappop(binds)
        if binds and (level is None or binds[0][0] < level):
            level = binds[0][0]
        if level is None:
            return
        moved: dict[int, int] = {}  # group -> demands starting to rise (+) or stopping at their cap (-)
        while next_start < total and min_u[starts[next_start]] == level:
            i = starts[next_start]
            next_start += 1
            state[i] = _RISING
            moved[group[i]] = moved.get(group[i], 0) + 1
        while next_stop < total and cap_u[stops[next_stop]] == level:
            i = stops[next_stop]
            next_stop += 1
            if state[i] == _RISING:
                state[i] = _FROZEN
                limit_u[i] = level
                moved[group[i]] = moved.get(group[i], 0) - 1
        _reschedule(_move(moved, level, constraints, n, base), binds, base, n, version)
        while binds and binds[0][2] != version[binds[0][1]]:
            heapq.heappop(binds)
        if binds and binds[0][0] == level:
            _partial_round(level, binds, base, n, version, members_of, groups_on, group, constraints, state, limit_u)


def _move(moved: dict[int, int], level: int, constraints: list[tuple[int, ...]], n: list[int],
          base: list[int]) -> set[int]:
    """Count demands that start rising (+) or freeze (-) at `level` on their constraints; those touched."""
    touched: set[int] = set()
    for g, count in moved.items():
        if count:
            ks = constraints[g]
            shift = count * level
            for k in ks:
                n[k] += count
                base[k] += shift
            touched.update(ks)
    return touched


def _reschedule(touched: Iterable[int], binds: list, base: list[int], n: list[int], version: list[int]) -> None:
    for k in touched:
        version[k] += 1  # any older entry of k in the heap is now stale
        if n[k]:
            heapq.heappush(binds, (base[k] // n[k], k, version[k]))


def _partial_round(level: int, binds: list, base: list[int], n: list[int], version: list[int],
                   members_of: dict[int, list[int]], groups_on: dict[int, list[int]], group: list[int],
                   constraints: list[tuple[int, ...]], state: list[int], limit_u: list[int]) -> None:
    """Raise every rising demand from `level` to `level + 1` where some constraint cannot give all of
    its demands a step: those demands take one in queue order while it lasts, the others freeze.
    Demands under no such constraint take their step without being looked at (they always fit)."""
    left: dict[int, int] = {}  # the short constraints -> steps still to hand out this round
    while binds and binds[0][0] == level:
        _, k, ver = heapq.heappop(binds)
        if ver == version[k]:
            left[k] = base[k] - n[k] * level
    short: dict[int, list[int]] = {}  # group under a short constraint -> its short constraints
    for k in left:
        for g in groups_on[k]:
            short.setdefault(g, []).append(k)
    candidates: list[int] = []
    for g in short:
        kept = [i for i in members_of[g] if state[i] != _FROZEN]  # forget frozen ones for good: amortised
        members_of[g] = kept
        candidates += [i for i in kept if state[i] == _RISING]
    frozen: dict[int, int] = {}
    for i in sorted(candidates):
        ks = short[group[i]]
        for k in ks:
            if left[k] < 1:
                state[i] = _FROZEN
                limit_u[i] = level
                frozen[group[i]] = frozen.get(group[i], 0) - 1
                break
        else:
            for k in ks:
                left[k] -= 1
    for k in left:  # groups with nobody left to move are not looked at again
        groups_on[k] = [g for g in groups_on[k] if members_of[g]]
    _reschedule(_move(frozen, level, constraints, n, base) | left.keys(), binds, base, n, version)


def _result(order: list[Demand], limit_u: list[int], cap_u: list[int], used: list[tuple[str, ...]],
            group: list[int], grid: _Grid, held_loads: list[tuple[tuple[int, ...], int]], overloaded_at: set[int],
            units: _Units) -> Allocation:
    amps = {steps: units.amps(steps) for steps in {*limit_u, *cap_u}}.__getitem__  # few distinct values
    per_group = [0] * len(grid.constraints)
    for i, limit in enumerate(limit_u):
        per_group[group[i]] += limit
    counted = [0] * len(grid.available)
    for ks, current in [*zip(grid.constraints, per_group), *held_loads]:
        for k in ks:
            counted[k] += current
    keys = [d.evse for d in order]
    return Allocation(
        limits=dict(zip(keys, map(amps, limit_u))),
        waiting=tuple(key for key, limit in zip(keys, limit_u) if not limit),
        wanted=dict(zip(keys, map(amps, cap_u))),
        phases_used=dict(zip(keys, used)),
        allocated={c.id: {p: units.amps(counted[3 * j + _PHASE_INDEX[p]]) for p in c.phases}
                   for j, c in enumerate(grid.circuits)},
        available={c.id: {p: units.amps(grid.available[3 * j + _PHASE_INDEX[p]]) for p in c.phases}
                   for j, c in enumerate(grid.circuits)},
        overloaded=tuple(grid.circuits[j].id for j in sorted(overloaded_at)),
    )
