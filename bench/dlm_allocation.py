"""Times the dynamic-load-management allocation (appliance/dlm/allocation.py) on a deep depot tree.

The controller runs `allocate` on every meter value of a depot, so it must be cheap: the aim is
under 10 ms for 1,000 EVSEs and well under a second for 10,000. The depot: a main breaker, 10
sub-boards, 10 sub-sub-boards under each (every tenth on one phase), EVSEs spread over the 100
sub-sub-boards; mixed 1- and 3-phase EVSEs with every rotation; nearly all with a session, some
measured drawing less than offered or on one phase only, a few priorities and charge-first flags,
a few chargers offline (held). Limits are tight enough that every level of the tree binds somewhere
(the sub-boards and sub-sub-boards get from 9 to 25 A per EVSE beneath, the main breaker 11).
The model is seeded, so every run allocates the same depot.

    .venv/bin/python bench/dlm_allocation.py [--sizes 10,100,1000,10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, REPO_DIR)  # run from anywhere, without installing the appliance

from appliance.dlm.allocation import PHASES, ROTATIONS, Circuit, Demand, Evse, Held, allocate, wiring

AIM_MS = {1000: 10.0, 10000: 1000.0}


def depot(evse_count: int, seed: int = 1):
    """Circuits, EVSEs, demands and held loads of a depot with `evse_count` EVSEs."""
    rng = random.Random(seed)
    leaves_per_board, boards = 10, 10
    per_leaf = max(evse_count / (boards * leaves_per_board), 1)
    circuits = [Circuit("main", max(63.0, round(evse_count * 11.0)), reserve_a={"L1": 40.0, "L2": 25.0})]
    leaves = []
    for b in range(boards):
        board = f"board{b}"
        # amperes per EVSE beneath: some boards and sub-sub-boards are tighter than the main breaker
        board_a = rng.choice((10.0, 13.0, 20.0))
        circuits.append(Circuit(board, max(32.0, round(per_leaf * leaves_per_board * board_a)), parent="main"))
        for s in range(leaves_per_board):
            leaf = f"{board}.{s}"
            phases = (PHASES[b % 3],) if s == 9 else PHASES  # every tenth sub-sub-board on one phase
            leaf_a = rng.choice((9.0, 12.0, 18.0, 25.0))
            circuits.append(Circuit(leaf, max(32.0, round(per_leaf * leaf_a)), phases, parent=board,
                                    reserve_a={phases[0]: 3.0} if s == 0 else {}))
            leaves.append((leaf, phases))
    rotations = sorted(ROTATIONS)
    evses, demands, held = [], [], []
    for n in range(evse_count):
        leaf, leaf_phases = leaves[n % len(leaves)]
        three_phase = len(leaf_phases) == 3 and rng.random() < 0.7
        phases = wiring(3, rotation=rotations[n % 6]) if three_phase else wiring(1, leaf_phases[n % len(leaf_phases)])
        evse = Evse((f"CP{n:05d}", 1), leaf, 32.0 if three_phase else rng.choice((16.0, 32.0)), 6.0, phases)
        evses.append(evse)
        draw = rng.random()
        if draw < 0.02:
            held.append(Held(evse.key, 10.0, "offline"))
        elif draw < 0.97:
            demands.append(_demand(evse, rng))
    return circuits, evses, demands, held


def _demand(evse: Evse, rng: random.Random) -> Demand:
    measured, last_limit_a = {}, None
    kind = rng.random()
    if kind < 0.2:  # drawing clearly less than offered (a nearly full battery)
        last_limit_a = 16.0
        measured = {p: rng.uniform(3.0, 10.0) for p in PHASES[:len(evse.phases)]}
    elif kind < 0.3 and len(evse.phases) == 3:  # a car charging on one phase of three
        last_limit_a = 16.0
        measured = {"L1": 15.5, "L2": 0.1, "L3": 0.0}
    elif kind < 0.6:  # drawing what it is offered
        last_limit_a = 12.0
        measured = {p: 11.8 for p in PHASES[:len(evse.phases)]}
    priority = 1 if rng.random() < 0.05 else 0
    return Demand(evse.key, priority, rng.random() < 0.01, rng.uniform(0, 3600.0), measured, last_limit_a)


def measure(evse_count: int, repeat: int) -> dict:
    circuits, evses, demands, held = depot(evse_count)
    allocate(circuits, evses, demands, held)  # warm-up: imports, caches
    times_ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = allocate(circuits, evses, demands, held)
        times_ms.append((time.perf_counter() - started) * 1000)
    below_cap = sum(1 for key, limit_a in result.limits.items() if 0 < limit_a < result.wanted[key])
    return {"evses": evse_count, "circuits": len(circuits), "demands": len(demands), "held": len(held),
            "waiting": len(result.waiting), "below_cap": below_cap, "median_ms": statistics.median(times_ms),
            "max_ms": max(times_ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="EVSE counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per size (median and max reported)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.repeat} runs per size after one warm-up")
    header = f"{'EVSEs':>7} {'circuits':>8} {'demands':>8} {'held':>5} {'waiting':>8} {'capped':>7} " \
             f"{'median ms':>10} {'max ms':>8}  aim"
    print(header)
    print("-" * len(header))
    for size in sizes:
        row = measure(size, args.repeat)
        aim = AIM_MS.get(size)
        verdict = "" if aim is None else f"< {aim:g} ms: {'yes' if row['median_ms'] < aim else 'NO'}"
        print(f"{row['evses']:>7} {row['circuits']:>8} {row['demands']:>8} {row['held']:>5} {row['waiting']:>8} "
              f"{row['below_cap']:>7} {row['median_ms']:>10.2f} {row['max_ms']:>8.2f}  {verdict}")
    print("capped: demands given less than they want (a circuit on their path is full)")
    python = sys.executable
    shown = os.path.relpath(python, REPO_DIR) if python.startswith(REPO_DIR) else python
    print("reproduce: cd " + shlex.quote(REPO_DIR) + " && "
          + shlex.join([shown, "bench/dlm_allocation.py", "--sizes", ",".join(map(str, sizes)),
                        "--repeat", str(args.repeat)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
