"""From the plan staff keep (circuits, wiring) to the allocation's model, and the shares that keep the
site safe while the appliance is down. Pure: records in, model out."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.dlm import allocation as alloc
from appliance.store.circuits import CircuitRecord, EvseFacts, MemberRecord

DEFAULT_MAX_CURRENT_A = 32.0  # an EVSE nobody gave a maximum and that reported no power: a common wallbox

Key = tuple[str, int]  # (charger identity, EVSE number)

PROFILE, THROTTLE, NONE = "profile", "throttle", "none"


@dataclass(frozen=True)
class EvseInfo:
    key: Key
    circuit: str
    protocol: str
    model: alloc.Evse
    control: str  # profile: charging profiles; throttle: a vendor configuration key; none: cannot be limited
    throttle_key: str = ""

    @property
    def identity(self) -> str:
        return self.key[0]

    @property
    def evse_number(self) -> int:
        return self.key[1]


@dataclass(frozen=True)
class Model:
    circuits: tuple[alloc.Circuit, ...]
    evses: dict[Key, EvseInfo]
    records: dict[str, CircuitRecord]

    def children(self, circuit: str) -> list[str]:
        return [c.id for c in self.circuits if c.parent == circuit]

    def subtree(self, circuit: str) -> set[str]:
        found, todo = set(), [circuit]
        while todo:
            name = todo.pop()
            found.add(name)
            todo.extend(self.children(name))
        return found


def carried(record: CircuitRecord) -> tuple[str, ...]:
    return alloc.PHASES if record.phases == 3 else (record.phase,)


def build(circuits: list[CircuitRecord], members: list[MemberRecord],
          known: dict[str, list[EvseFacts]]) -> Model:
    by_name = {c.name: c for c in circuits}
    model_circuits = tuple(
        alloc.Circuit(c.name, c.max_current_a, carried(c), c.parent,
                      {p: c.reserve_a for p in carried(c)} if c.reserve_a else {})
        for c in circuits)
    evses: dict[Key, EvseInfo] = {}
    by_charger: dict[str, dict[int, MemberRecord]] = {}
    for m in members:
        by_charger.setdefault(m.identity, {})[m.evse_number] = m
    for identity, rows in by_charger.items():
        facts = {f.evse_number: f for f in known.get(identity, [])}
        numbers = set(facts) | {n for n in rows if n > 0}
        if 0 in rows and not numbers:
            numbers = {1}  # not heard from yet: most chargers have one EVSE
        for number in sorted(numbers):
            member = rows.get(number) or rows.get(0)
            if member is None:
                continue  # an EVSE of a charger whose other EVSEs alone are wired
            circuit = by_name[member.circuit]
            evses[(identity, number)] = _evse_info(member, circuit, facts.get(number), number)
    return Model(model_circuits, evses, by_name)


def _evse_info(member: MemberRecord, circuit: CircuitRecord, facts: EvseFacts | None, number: int) -> EvseInfo:
    phases = 1 if circuit.phases == 1 else member.phases
    max_a = member.max_current_a
    if max_a is None and facts is not None and facts.max_power_w:
        max_a = facts.max_power_w / (member.voltage_v * phases)
    max_a = round(max_a if max_a is not None else DEFAULT_MAX_CURRENT_A, 1)
    model = alloc.Evse((member.identity, number), circuit.name, max_a, min(circuit.min_current_a, max_a),
                       alloc.wiring(phases, member.phase, member.rotation))
    if member.throttle_key:
        control = THROTTLE
    elif member.protocol == "ocpp1.5-soap":
        control = NONE  # OCPP 1.5 has no smart charging
    else:
        control = PROFILE
    return EvseInfo((member.identity, number), circuit.name, member.protocol, model, control, member.throttle_key)


def safe_shares(model: Model) -> dict[Key, float]:
    """What each controllable EVSE may draw when every EVSE charges at once and nobody is there to
    arbitrate: the all-on allocation at equal priority, the uncontrollable counted at their maximum.
    A charger falls back to it when the appliance stops renewing its limits."""
    held = [alloc.Held(k, e.model.max_a, "cannot be limited") for k, e in model.evses.items() if e.control == NONE]
    demands = [alloc.Demand(k, queue_key=float(i))
               for i, k in enumerate(sorted(k for k, e in model.evses.items() if e.control != NONE))]
    result = alloc.allocate(model.circuits, [e.model for e in model.evses.values()], demands, held)
    return dict(result.limits)
