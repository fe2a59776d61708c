"""DLM allocation, table-driven: one row per rule of appliance/dlm/allocation.py."""

from __future__ import annotations

import pytest

from appliance.dlm.allocation import PHASES, ROTATIONS, Circuit, Demand, Evse, Held, Policy, allocate, validate, wiring

MAIN32 = [Circuit("main", 32)]
L1, L2, L3 = ("L1",), ("L2",), ("L3",)


def ev(key, max_a=32.0, circuit="main", phases=PHASES, min_a=6.0):
    return Evse(key, circuit, max_a, min_a, phases)


@pytest.mark.parametrize("circuits, evses, demands, held, expected", [
    pytest.param(MAIN32, [ev("A", 16)], [Demand("A")], [], {"A": 16.0}, id="single EVSE: its maximum"),
    pytest.param([Circuit("main", 10)], [ev("A", 16)], [Demand("A")], [], {"A": 10.0}, id="single EVSE: the circuit"),
    pytest.param(MAIN32, [ev("A"), ev("B")], [Demand("A"), Demand("B")], [], {"A": 16.0, "B": 16.0},
                 id="two equal EVSEs split evenly"),
    # 321 deci-amps do not split in two: the odd step goes to the first in the queue
    pytest.param([Circuit("main", 32.1)], [ev("A"), ev("B")], [Demand("A", queue_key=1), Demand("B", queue_key=0)],
                 [], {"A": 16.0, "B": 16.1}, id="leftover step in queue order"),
    # the 3-phase EVSE's one limit counts on L2 too, so it shares L2 with the 1-phase one
    pytest.param(MAIN32, [ev("A"), ev("C", phases=L2)], [Demand("A"), Demand("C")], [], {"A": 16.0, "C": 16.0},
                 id="1-phase on L2 limits a 3-phase EVSE through L2"),
    pytest.param(MAIN32, [ev("A"), ev("C", 10, phases=L2)], [Demand("A"), Demand("C")], [], {"A": 22.0, "C": 10.0},
                 id="a 1-phase EVSE at its max leaves the rest of L2"),
    pytest.param([Circuit("main", 16)], [ev("X", phases=L1), ev("Y", phases=L2), ev("Z", phases=L3)],
                 [Demand("X"), Demand("Y"), Demand("Z")], [], {"X": 16.0, "Y": 16.0, "Z": 16.0},
                 id="1-phase EVSEs on different phases do not compete"),
    # charger L1 is fed by site L2 (STR): a car on its own L1 only competes with B on L2
    pytest.param(MAIN32, [ev("A", phases=wiring(3, rotation="STR")), ev("B", phases=L2)],
                 [Demand("A", measured_a={"L1": 16.0}, last_limit_a=16.0), Demand("B")], [], {"A": 16.0, "B": 16.0},
                 id="rotation: a car on charger L1 counts on site L2"),
    pytest.param(MAIN32, [ev("A", phases=wiring(3, rotation="STR")), ev("B", phases=L1)],
                 [Demand("A", measured_a={"L1": 16.0}, last_limit_a=16.0), Demand("B")], [], {"A": 32.0, "B": 32.0},
                 id="rotation: ... and leaves site L1 to others"),
    pytest.param([Circuit("main", 32, reserve_a={"L1": 10})], [ev("A")], [Demand("A")], [], {"A": 22.0},
                 id="reserve on one phase caps a 3-phase EVSE"),
    # the sub-board's own uncontrolled load also flows through the main breaker
    pytest.param([Circuit("main", 32), Circuit("sub", 32, parent="main", reserve_a={"L3": 12})], [ev("A")],
                 [Demand("A")], [], {"A": 20.0}, id="sub-circuit reserve counts on its ancestors"),
    pytest.param([Circuit("main", 40), Circuit("sub", 16, parent="main")], [ev("A", circuit="sub"), ev("B")],
                 [Demand("A"), Demand("B")], [], {"A": 16.0, "B": 24.0}, id="sub-circuit limit, rest to the others"),
    pytest.param([Circuit("main", 10)], [ev("A"), ev("B")], [Demand("A"), Demand("B")], [], {"A": 10.0, "B": 0.0},
                 id="a minimum that does not fit: 0, waiting"),
    pytest.param([Circuit("main", 10)], [ev("A"), ev("B")], [Demand("A", queue_key=2), Demand("B", queue_key=1)], [],
                 {"A": 0.0, "B": 10.0}, id="queue key decides who waits"),
    # charge first is served whole (B's 10 A) before the others' minimums; then minimums, then priority
    pytest.param([Circuit("main", 22)], [ev("A"), ev("B", 10), ev("C")],
                 [Demand("A", priority=5), Demand("B", charge_first=True, queue_key=9), Demand("C")], [],
                 {"A": 6.0, "B": 10.0, "C": 6.0}, id="charge_first fills before priority"),
    pytest.param([Circuit("main", 20)], [ev("A"), ev("B", 10), ev("C")],
                 [Demand("A", priority=5), Demand("B", charge_first=True, queue_key=9), Demand("C")], [],
                 {"A": 10.0, "B": 10.0, "C": 0.0}, id="charge_first whole even if another then waits"),
    # without charge first: minimums for everyone first (18 of 20 A), then the higher class takes the rest
    pytest.param([Circuit("main", 20)], [ev("A"), ev("B", 10), ev("C")],
                 [Demand("A", priority=5), Demand("B", queue_key=9), Demand("C")], [],
                 {"A": 8.0, "B": 6.0, "C": 6.0}, id="minimums before priority fills"),
    pytest.param([Circuit("main", 12)], [ev("A"), ev("B"), ev("C")],
                 [Demand("A", priority=5), Demand("B", charge_first=True, queue_key=9), Demand("C", queue_key=-1)],
                 [], {"A": 0.0, "B": 12.0, "C": 0.0}, id="charge_first takes what it can before any minimum"),
    pytest.param([Circuit("main", 12)], [ev("A"), ev("B"), ev("C")],
                 [Demand("A", priority=5), Demand("B", queue_key=9), Demand("C", queue_key=-1)],
                 [], {"A": 6.0, "B": 0.0, "C": 6.0}, id="priority beats queue for minimums"),
    pytest.param(MAIN32, [ev("A", 20), ev("B")], [Demand("A", priority=1), Demand("B")], [], {"A": 20.0, "B": 12.0},
                 id="a higher priority is served to its max first"),
    # drawing 8 of 16 A offered: capped at 8 + 2 headroom, the rest goes to B
    pytest.param(MAIN32, [ev("A"), ev("B")],
                 [Demand("A", measured_a={"L1": 8, "L2": 8, "L3": 8}, last_limit_a=16), Demand("B")], [],
                 {"A": 10.0, "B": 22.0}, id="a car drawing less releases capacity"),
    pytest.param(MAIN32, [ev("A"), ev("B")],
                 [Demand("A", measured_a={"L1": 15, "L2": 15, "L3": 15}, last_limit_a=16), Demand("B")], [],
                 {"A": 16.0, "B": 16.0}, id="a car drawing close to its limit keeps its share"),
    pytest.param(MAIN32, [ev("A"), ev("H")], [Demand("A")], [Held("H", 10, "offline")], {"A": 22.0},
                 id="held load counted"),
    pytest.param(MAIN32, [ev("A"), ev("H", phases=L3)], [Demand("A")], [Held("H", 10)], {"A": 22.0},
                 id="1-phase held load caps a 3-phase EVSE"),
    pytest.param([Circuit("main", 16)], [ev("A"), ev("H")], [Demand("A")], [Held("H", 20)], {"A": 0.0},
                 id="overloaded by held: no demand beneath gets current"),
    # L1 of the sub-board is overloaded; B on its L2 is shed too (the breaker trips all poles)
    pytest.param([Circuit("main", 64), Circuit("sub", 16, parent="main")],
                 [ev("A"), ev("B", circuit="sub", phases=L2), ev("H", circuit="sub", phases=L1)],
                 [Demand("A"), Demand("B")], [Held("H", 20)], {"A": 32.0, "B": 0.0},
                 id="overloaded sub-circuit: only demands beneath it are shed"),
    pytest.param([Circuit("main", 10)], [ev(k, min_a=1) for k in "ABC"], [Demand(k) for k in "ABC"], [],
                 {"A": 3.4, "B": 3.3, "C": 3.3}, id="step rounding: 10 A in three, never over"),
    pytest.param([Circuit("main", 10.05)], [ev("A")], [Demand("A")], [], {"A": 10.0},
                 id="a limit off the step rounds down"),
    pytest.param([Circuit("main", 32)], [ev("A", 16.05)], [Demand("A")], [], {"A": 16.0},
                 id="a maximum off the step rounds down"),
    pytest.param([Circuit("main", 32)], [ev("A"), ev("H")], [Demand("A")], [Held("H", 9.91)], {"A": 22.0},
                 id="a held load off the step rounds up"),
    pytest.param([Circuit("main", 12), Circuit("other", 12)], [ev("A"), ev("B", circuit="other")],
                 [Demand("A"), Demand("B")], [], {"A": 12.0, "B": 12.0}, id="independent trees"),
])
def test_limits(circuits, evses, demands, held, expected):
    assert allocate(circuits, evses, demands, held).limits == expected


@pytest.mark.parametrize("policy, expected", [
    pytest.param(Policy(step_a=0.5), {"A": 3.5, "B": 3.5, "C": 3.0}, id="half-amp steps"),
    pytest.param(Policy(step_a=1), {"A": 4.0, "B": 3.0, "C": 3.0}, id="whole-amp steps"),
])
def test_step(policy, expected):
    evses = [ev(k, min_a=1) for k in "ABC"]
    assert allocate([Circuit("main", 10)], evses, [Demand(k) for k in "ABC"], policy=policy).limits == expected


@pytest.mark.parametrize("evse, demand, wanted, phases_used", [
    pytest.param(ev("A", 20), Demand("A"), 20.0, PHASES, id="unmeasured: max, all phases"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 5, "L2": 5, "L3": 5}), 20.0, PHASES,
                 id="last limit unknown: max"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 5, "L2": 5, "L3": 5}, last_limit_a=16), 7.0, PHASES,
                 id="drawing less: draw + headroom"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 15, "L2": 15, "L3": 15}, last_limit_a=16), 20.0, PHASES,
                 id="exactly the margin below is not less"),
    # capped at draw + headroom and still drawing the same: stays capped (no raise-cut flapping)
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 10, "L2": 10, "L3": 10}, last_limit_a=12), 12.0, PHASES,
                 id="a capped car that draws the same stays capped"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 0.5, "L2": 0, "L3": 0}, last_limit_a=16), 6.0, PHASES,
                 id="not drawing: its minimum, counted on all phases"),
    pytest.param(ev("A", 8), Demand("A", measured_a={"L1": 7, "L2": 7, "L3": 7}, last_limit_a=16), 8.0, PHASES,
                 id="draw + headroom never above max"),
    pytest.param(ev("A", 20, phases=wiring(3, rotation="TSR")), Demand("A", measured_a={"L1": 16, "L2": 0.2},
                 last_limit_a=16), 20.0, ("L3",), id="one charger phase in use: its site phase"),
    pytest.param(ev("A", 20, phases=wiring(3, rotation="RTS")), Demand("A", measured_a={"L1": 9, "L2": 9, "L3": 0},
                 last_limit_a=16), 11.0, ("L1", "L3"), id="two phases in use, rotated"),
    # a 1-phase EVSE reports its current under whatever label; it only has one phase
    pytest.param(ev("A", 20, phases=L3), Demand("A", measured_a={"L1": 10}, last_limit_a=10), 20.0, L3,
                 id="1-phase EVSE: its phase whatever the label"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L2": 5, "N": 5}, last_limit_a=16), 7.0, ("L2",),
                 id="a neutral reading is not a phase"),
    # a reading that is not a current drawn makes the measurement unknown: the safe side
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 5, "L2": -1}, last_limit_a=16), 20.0, PHASES,
                 id="negative reading: unmeasured"),
    pytest.param(ev("A", 20), Demand("A", measured_a={"L1": 5, "L2": float("nan")}, last_limit_a=16), 20.0,
                 PHASES, id="NaN reading: unmeasured"),
])
def test_wanted_and_phases_used(evse, demand, wanted, phases_used):
    result = allocate(MAIN32, [evse], [demand])
    assert (result.wanted["A"], result.phases_used["A"]) == (wanted, phases_used)


def test_report_fields():
    circuits = [Circuit("main", 40, reserve_a={"L1": 2}), Circuit("sub", 16, phases=L2, parent="main",
                                                                  reserve_a={"L2": 1})]
    evses = [ev("A"), ev("B", circuit="sub", phases=L2), ev("C", min_a=30), ev("H")]
    result = allocate(circuits, evses, [Demand("A"), Demand("B"), Demand("C", queue_key=1)], [Held("H", 4)])
    # B stops at the sub-board's 15 A; A then takes what is left of main L2 (40 - 1 - 4 held - 15)
    assert result.limits == {"A": 20.0, "B": 15.0, "C": 0.0}
    assert result.waiting == ("C",)
    assert result.available == {"main": {"L1": 38.0, "L2": 39.0, "L3": 40.0}, "sub": {"L2": 15.0}}
    assert result.allocated == {"main": {"L1": 24.0, "L2": 39.0, "L3": 24.0}, "sub": {"L2": 15.0}}
    assert result.overloaded == ()


def test_overloaded_report():
    circuits = [Circuit("main", 64), Circuit("sub", 16, parent="main", reserve_a={"L2": 10})]
    result = allocate(circuits, [ev("A", circuit="sub"), ev("H", circuit="sub", phases=L2)], [Demand("A")],
                      [Held("H", 7)])
    assert (result.overloaded, result.waiting, result.allocated["sub"]["L2"]) == (("sub",), ("A",), 7.0)


@pytest.mark.parametrize("circuits, evses, problem", [
    ([Circuit("main", 32), Circuit("main", 16)], [], "circuit 'main' is defined twice"),
    ([Circuit("sub", 16, parent="nowhere")], [], "parent 'nowhere' is not a circuit"),
    ([Circuit("a", 16, parent="b"), Circuit("b", 16, parent="a")], [], "form a cycle"),
    ([Circuit("a", 16, parent="a")], [], "circuits 'a' -> 'a' form a cycle"),
    ([Circuit("main", 32, phases=L1), Circuit("sub", 16, phases=L2, parent="main")], [],
     "circuit 'sub' carries L2, which its parent 'main' does not"),
    ([Circuit("main", -1)], [], "limit -1 A is not a finite, non-negative number"),
    ([Circuit("main", float("nan"))], [], "limit nan A"),
    ([Circuit("main", 32, phases=("L4",))], [], "phase 'L4' is not one of L1, L2, L3"),
    ([Circuit("main", 32, phases=())], [], "carries no phase"),
    ([Circuit("main", 32, phases=("L1", "L1"))], [], "a phase is listed twice"),
    ([Circuit("main", 32, phases=L1, reserve_a={"L2": 3})], [], "reserve on 'L2', a phase it does not carry"),
    ([Circuit("main", 32, reserve_a={"L2": float("inf")})], [], "reserve inf A on L2 is not a finite number"),
    (MAIN32, [ev("A"), ev("A")], "EVSE 'A' is defined twice"),
    (MAIN32, [ev("A", circuit="nowhere")], "EVSE 'A': circuit 'nowhere' is not a circuit"),
    ([Circuit("main", 32, phases=L1)], [ev("A")], "EVSE 'A' draws on L2, which its circuit 'main' does not carry"),
    (MAIN32, [ev("A", phases=("L1", "L2"))], "has 2 phases, expected 1 or 3"),
    (MAIN32, [ev("A", phases=["L1"])], "phases ['L1'] must be a tuple"),
    (MAIN32, [ev("A", 6, min_a=10)], "minimum 10 A is above its maximum 6 A"),
    (MAIN32, [ev("A", -6, min_a=0)], "maximum -6 A is not a finite, non-negative number"),
    (MAIN32, [ev("A", min_a=-1)], "minimum -1 A is not a finite, non-negative number"),
])
def test_validate_problems(circuits, evses, problem):
    problems = validate(circuits, evses)
    assert any(problem in p for p in problems), problems


def test_validate_sound_model_with_several_roots():
    circuits = [Circuit("main", 63), Circuit("sub", 32, phases=L2, parent="main"), Circuit("other", 16)]
    assert validate(circuits, [ev("A", circuit="sub", phases=L2), ev("B", circuit="other")]) == []


@pytest.mark.parametrize("demands, held, policy, problem", [
    ([Demand("X")], [], Policy(), "demand for EVSE 'X', which is not an EVSE"),
    ([], [Held("X", 5)], Policy(), "held load for EVSE 'X', which is not an EVSE"),
    ([Demand("A"), Demand("A")], [], Policy(), "EVSE 'A' has more than one demand or held load"),
    ([Demand("A")], [Held("A", 5)], Policy(), "EVSE 'A' has more than one demand or held load"),
    ([Demand("A", queue_key=None)], [], Policy(), "queue key None is not a number"),
    ([Demand("A", priority=1.5)], [], Policy(), "priority 1.5 is not a whole number"),
    ([], [Held("A", float("nan"))], Policy(), "nan A is not a finite"),
    ([Demand("A")], [], Policy(step_a=0), "step 0 A must be a positive number"),
])
def test_allocate_refuses(demands, held, policy, problem):
    with pytest.raises(ValueError, match=problem):
        allocate(MAIN32, [ev("A")], demands, held, policy)


def test_allocate_refuses_an_unsound_model():
    with pytest.raises(ValueError, match="is not a circuit"):
        allocate([Circuit("sub", 16, parent="nowhere")], [], [])


@pytest.mark.parametrize("phases, phase, rotation, expected", [
    (1, "L2", "RST", ("L2",)),
    (1, "L3", "NotApplicable", ("L3",)),  # OCPP's rotation for a 1-phase connector: ignored
    *[(3, "L1", rotation, site) for rotation, site in ROTATIONS.items()],
])
def test_wiring(phases, phase, rotation, expected):
    assert wiring(phases, phase, rotation) == expected


def test_rotations_are_the_six_permutations():
    assert sorted(ROTATIONS.values()) == sorted({(a, b, c) for a in PHASES for b in PHASES for c in PHASES
                                                  if len({a, b, c}) == 3})


@pytest.mark.parametrize("phases, phase, rotation, problem", [
    (2, "L1", "RST", "1 or 3 phases, not 2"),
    (True, "L1", "RST", "1 or 3 phases, not True"),
    ("3", "L1", "RST", "1 or 3 phases, not '3'"),
    (1, "L4", "RST", "phase 'L4' is not one of L1, L2, L3"),
    (3, "L1", "Unknown", "phase rotation 'Unknown' is not one of RST"),
    (3, "L1", "rst", "phase rotation 'rst'"),
])
def test_wiring_refuses(phases, phase, rotation, problem):
    with pytest.raises(ValueError, match=problem):
        wiring(phases, phase, rotation)
