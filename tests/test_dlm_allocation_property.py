"""DLM allocation, properties (hypothesis): on random circuit trees, EVSEs and sessions, the limits never
overload a circuit, respect minimums and caps, leave nothing on the table, serve classes in order, do not
depend on input order, and equal a slow step-by-step reference of the same rules.

Amperes are generated as whole deci-amps (the default step), and every check counts in deci-amps, so
"fits" is exact here too."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.dlm.allocation import PHASES, ROTATIONS, Circuit, Demand, Evse, Held, Policy, allocate

POLICY = Policy()
MARGIN_D, HEADROOM_D, IN_USE_D = 10, 20, 10  # the default policy's margins in deci-amps


def deci(value_a: float) -> int:
    return round(value_a * 10)


@st.composite
def depots(draw):
    circuits: list[Circuit] = []
    depth: dict[str, int] = {}
    for n in range(draw(st.integers(1, 7))):
        parents = [c for c in circuits if depth[c.id] < 3]
        parent = draw(st.sampled_from(parents)) if parents and draw(st.integers(0, 5)) else None  # some roots
        carried = parent.phases if parent else PHASES
        if draw(st.booleans()):
            phases = carried  # often as many phases as the parent
        else:
            subset = draw(st.sets(st.sampled_from(carried), min_size=1))
            phases = tuple(p for p in PHASES if p in subset)
        reserve = {}
        if not draw(st.integers(0, 3)):
            reserve = draw(st.dictionaries(st.sampled_from(phases), st.integers(0, 80).map(lambda d: d / 10),
                                          max_size=2))
        limit_d = draw(st.one_of(st.integers(100, 800), st.integers(0, 100)))  # now and then a tiny circuit
        circuit = Circuit(f"c{n}", limit_d / 10, phases, parent.id if parent else None, reserve)
        circuits.append(circuit)
        depth[circuit.id] = depth[parent.id] + 1 if parent else 0
    evses, demands, held = [], [], []
    for n in range(draw(st.integers(0, 12))):
        circuit = draw(st.sampled_from(circuits))
        if len(circuit.phases) == 3 and draw(st.booleans()):
            phases = ROTATIONS[draw(st.sampled_from(sorted(ROTATIONS)))]
        else:
            phases = (draw(st.sampled_from(circuit.phases)),)
        max_d = draw(st.integers(0, 320))
        min_d = draw(st.sampled_from([60, 0, 10, max_d // 2, max_d]))
        min_d = min(min_d, max_d)
        evse = Evse(f"E{n}", circuit.id, max_d / 10, min_d / 10, phases)
        evses.append(evse)
        role = draw(st.sampled_from(["demand", "demand", "demand", "demand", "held", "idle"]))
        if role == "held":
            held.append(Held(evse.key, draw(st.integers(0, 100)) / 10))
        elif role == "demand":
            demands.append(draw(demands_for(evse)))
    return circuits, evses, demands, held


@st.composite
def demands_for(draw, evse: Evse):
    measured: dict[str, float] = {}
    last_limit_a = None
    kind = draw(st.sampled_from(["none", "all", "one", "below"]))
    if kind != "none":
        last_limit_a = draw(st.integers(0, 320)) / 10
        high = 320 if kind == "all" else max(deci(last_limit_a) - MARGIN_D - 1, 0)  # "below": clearly under
        labels = PHASES if kind != "one" else (draw(st.sampled_from(PHASES)),)
        measured = {label: draw(st.integers(0, high)) / 10 for label in labels}
        if kind == "one":  # a car on one phase: the others read (almost) nothing
            measured.update({p: draw(st.integers(0, 9)) / 10 for p in PHASES if p not in measured})
    return Demand(evse.key, draw(st.integers(0, 2)), draw(st.integers(0, 6)) == 0, draw(st.integers(0, 4)),
                  measured, last_limit_a)


# ---- the rules, restated independently in deci-amps ----

def model(circuits, evses, demands, held):
    """Per demand: EVSE, cap, min, used site phases, path (circuit ids up to the root), class."""
    by_id = {c.id: c for c in circuits}
    evse_of = {e.key: e for e in evses}

    def path(circuit_id):
        return [circuit_id] + (path(by_id[circuit_id].parent) if by_id[circuit_id].parent else [])

    facts = {}
    for d in demands:
        e = evse_of[d.evse]
        cap = deci(e.max_a)
        if d.measured_a and d.last_limit_a is not None and max(d.measured_a.values()) < d.last_limit_a - MARGIN_D / 10:
            cap = max(deci(e.min_a), min(cap, deci(max(d.measured_a.values())) + HEADROOM_D))
        in_use = [i for i, label in enumerate(PHASES) if deci(d.measured_a.get(label, 0)) >= IN_USE_D]
        if len(e.phases) == 1 or not in_use:
            used = e.phases
        else:
            used = tuple(e.phases[i] for i in in_use)
        facts[d.evse] = {"cap": cap, "min": deci(e.min_a), "used": used, "path": path(e.circuit),
                         "klass": (d.charge_first, d.priority)}
    available = {(c.id, p): deci(c.limit_a) for c in circuits for p in c.phases}
    for c in circuits:
        for p, reserve_a in c.reserve_a.items():
            for above in path(c.id):
                available[(above, p)] -= deci(reserve_a)
    held_load = defaultdict(int)
    for h in held:
        e = evse_of[h.evse]
        for c in path(e.circuit):
            for p in e.phases:
                held_load[(c, p)] += deci(h.current_a)
    overloaded = {c for (c, p), a in available.items() if held_load[(c, p)] > a}
    return facts, available, held_load, overloaded


def slack_after(limits_d, facts, available, held_load):
    left = {k: a - held_load[k] for k, a in available.items()}
    for key, limit in limits_d.items():
        for c in facts[key]["path"]:
            for p in facts[key]["used"]:
                left[(c, p)] -= limit
    return left


def reference(circuits, evses, demands, held):
    """The rules done the slow way: charge-first sessions, then the others, each tier with minimums in
    queue order, then each class rising one step per round, every rising demand in queue order taking a
    step if everything on its path has one left."""
    facts, available, held_load, overloaded = model(circuits, evses, demands, held)
    order = sorted(demands, key=lambda d: (not d.charge_first, -d.priority, d.queue_key, str(d.evse)))
    left = {k: a - held_load[k] for k, a in available.items()}
    limit = {d.evse: 0 for d in order}

    def keys(key):
        return [(c, p) for c in facts[key]["path"] for p in facts[key]["used"]]

    for tier in (True, False):  # charge-first sessions whole (minimums and fill) before the others
        admitted = []
        for d in order:
            f = facts[d.evse]
            if d.charge_first == tier and f["cap"] >= f["min"] and not overloaded.intersection(f["path"]) and all(
                    left[k] >= f["min"] for k in keys(d.evse)):
                admitted.append(d.evse)
                limit[d.evse] = f["min"]
                for k in keys(d.evse):
                    left[k] -= f["min"]
        for klass in sorted({facts[k]["klass"] for k in admitted}, reverse=True):
            rising = [k for k in admitted if facts[k]["klass"] == klass and facts[k]["cap"] > facts[k]["min"]]
            level = min((facts[k]["min"] for k in rising), default=0)
            while rising:
                for key in [k for k in rising if facts[k]["min"] <= level]:
                    if limit[key] < facts[key]["cap"] and all(left[k] >= 1 for k in keys(key)):
                        limit[key] += 1
                        for k in keys(key):
                            left[k] -= 1
                    else:
                        rising.remove(key)
                level += 1
    return limit


# ---- properties ----

@settings(max_examples=400, deadline=None)
@given(depot=depots())
def test_invariants(depot):
    circuits, evses, demands, held = depot
    result = allocate(circuits, evses, demands, held, POLICY)
    facts, available, held_load, overloaded = model(circuits, evses, demands, held)
    limits_d = {key: deci(a) for key, a in result.limits.items()}
    left = slack_after(limits_d, facts, available, held_load)

    assert set(result.overloaded) == overloaded
    assert result.phases_used == {key: f["used"] for key, f in facts.items()}
    assert {key: deci(a) for key, a in result.wanted.items()} == {key: f["cap"] for key, f in facts.items()}
    # (a) never over a limit, unless held loads and reserves alone are
    for (c, p), remaining in left.items():
        assert remaining >= 0 or c in overloaded, (c, p, remaining)
    for key, f in facts.items():
        limit, binding = limits_d[key], [left[(c, p)] for c in f["path"] for p in f["used"]]
        # (b) 0, or between its minimum and its cap
        assert limit == 0 or f["min"] <= limit <= f["cap"], (key, limit, f)
        # (c) maximal: below its cap only where something on its path is full
        if overloaded.intersection(f["path"]):
            assert limit == 0
        elif limit == 0 and f["cap"] > 0:
            assert min(binding) < max(f["min"], 1), (key, f, binding)
        elif limit < f["cap"]:
            assert min(binding) < 1, (key, f, binding)
    # (d) classes: a lower class above its minimum only where a higher one below its cap is held back by
    # something full that the lower one does not use
    for hi, fh in facts.items():
        if not 0 < limits_d[hi] < fh["cap"]:
            continue
        full = {(c, p) for c in fh["path"] for p in fh["used"] if left[(c, p)] < 1}
        for lo, fl in facts.items():
            if fl["klass"] < fh["klass"] and limits_d[lo] > fl["min"]:
                assert full - {(c, p) for c in fl["path"] for p in fl["used"]}, (hi, lo)
    assert result.waiting == tuple(k for k in sorted(result.limits, key=_queue_order(demands)) if not limits_d[k])
    assert {k: deci(a) for k, a in result.limits.items()} == reference(circuits, evses, demands, held)
    assert {(c, p): deci(a) for c, phases in result.allocated.items() for p, a in phases.items()} == {
        k: available[k] - left[k] for k in available}


def _queue_order(demands):
    by_key = {d.evse: d for d in demands}
    return lambda key: (not by_key[key].charge_first, -by_key[key].priority, by_key[key].queue_key, str(key))


@settings(max_examples=150, deadline=None)
@given(depot=depots(), data=st.data())
def test_same_input_same_output_in_any_order(depot, data):
    circuits, evses, demands, held = depot
    first = allocate(circuits, evses, demands, held)
    assert allocate(circuits, evses, demands, held) == first
    shuffled = [data.draw(st.permutations(items)) for items in (circuits, evses, demands, held)]
    assert allocate(*shuffled) == first


@settings(max_examples=150, deadline=None)
@given(count=st.integers(1, 40), limit_d=st.integers(0, 2000), max_d=st.integers(60, 320),
       min_d=st.sampled_from([0, 10, 60]))
def test_identical_evses_on_one_circuit_differ_by_at_most_one_step(count, limit_d, max_d, min_d):
    evses = [Evse(n, "main", max_d / 10, min_d / 10) for n in range(count)]
    result = allocate([Circuit("main", limit_d / 10)], evses, [Demand(n) for n in range(count)])
    given_d = [deci(a) for a in result.limits.values() if a]
    if given_d:
        assert max(given_d) - min(given_d) <= 1
        assert sum(given_d) <= limit_d
