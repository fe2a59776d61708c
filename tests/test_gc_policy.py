"""The server's full garbage collections follow the heap's growth, not the traffic through it."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import weakref
from collections import deque
from contextlib import contextmanager

import pytest

from appliance.gc_policy import GrowthRule, HeapGrowthCollector


@pytest.mark.parametrize("after_last, now, due", [
    (1_000_000, 1_000_000, False),
    (1_000_000, 1_249_999, False),
    (1_000_000, 1_250_000, True),  # a quarter more
    (1_000_000, 900_000, False),  # shrank
    (100_000, 200_000, False),  # doubled, but a small heap: less than the floor
    (100_000, 300_000, True),
])
def test_the_rule(after_last, now, due):
    assert GrowthRule(growth=0.25, min_growth_blocks=200_000).due(after_last, now) is due


@pytest.mark.parametrize("growth, grown, freed, expected", [
    (0.25, 300_000, 300_000, 0.25),  # all garbage: collect at a quarter again
    (0.25, 300_000, 150_000, 0.25),  # half garbage
    (0.25, 300_000, 149_999, 0.5),  # mostly live (chargers connecting): wait for twice the growth
    (0.5, 300_000, 0, 1.0),
    (1.0, 300_000, 0, 1.0),  # no further than max_growth
    (1.0, 300_000, 290_000, 0.25),  # garbage again: back to a quarter
])
def test_the_growth_waited_for_follows_what_collections_find(growth, grown, freed, expected):
    assert GrowthRule(growth=0.25, max_growth=1.0).next_growth(growth, grown, freed) == expected


async def test_live_growth_spaces_collections_out(cpython_policy):
    collector = HeapGrowthCollector(GrowthRule(growth=0.05, min_growth_blocks=10_000), check_every_s=0.01)
    collector.install()
    kept = []
    try:
        for _ in range(3):  # chargers connecting: the heap grows with what stays
            before = collector.full_collections
            for _ in range(5_000):
                if collector.full_collections > before:
                    break
                kept.append([Waiter() for _ in range(2_000)])
                await asyncio.sleep(0.01)
        assert collector.growth == 0.05 * 2 ** 3
    finally:
        collector.uninstall()


@contextmanager
def full_collections():
    seen = []

    def note(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info)

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


class Waiter:
    """Stands for what a connection holds while it waits for its charger's next message."""

    def __init__(self) -> None:
        self.state = {"waiting": [1, 2, 3]}


def steady_traffic(rounds: int = 60) -> None:
    """Objects that live long enough to reach the oldest generation and are then freed by reference
    counting, the heap staying the same size: a fleet of steady size at work. Sized by the heap (the
    tests before leave theirs): CPython collects it all once a quarter of it has been promoted."""
    per_round = max(5_000, len(gc.get_objects()) // 100)
    waiting: deque[list[Waiter]] = deque()
    for _ in range(rounds):
        waiting.append([Waiter() for _ in range(per_round)])
        gc.collect(1)  # as the young collections between a charger's messages would
        gc.collect(1)
        if len(waiting) > 3:
            waiting.popleft()


@pytest.fixture
def cpython_policy():
    """Each test starts and ends with CPython's own policy, whatever the test did."""
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)
    gc.unfreeze()


async def test_steady_traffic_makes_no_full_collection(cpython_policy):
    # CPython's own policy: the same traffic collects the whole heap again and again. This shows the
    # traffic is the kind that did it, so the second half can fail.
    with full_collections() as seen:
        steady_traffic()
    assert len(seen) >= 2

    collector = HeapGrowthCollector(GrowthRule(min_growth_blocks=1_000), check_every_s=0.01)
    collector.install()
    try:
        with full_collections() as seen:
            for _ in range(3):
                steady_traffic(rounds=20)
                await asyncio.sleep(0.05)  # the collector's checks run
        assert seen == []
        assert collector.full_collections == 0
    finally:
        collector.uninstall()


class Node:
    def __init__(self) -> None:
        self.partner: Node | None = None
        self.payload = [0] * 20


async def test_cycles_that_grow_the_heap_are_collected(cpython_policy):
    trimmed = threading.Event()  # after the collection, the C heap's free pages go back to the system
    collector = HeapGrowthCollector(GrowthRule(growth=0.05, min_growth_blocks=10_000), check_every_s=0.01,
                                    trim=trimmed.set)
    collector.install()
    try:
        # enough to grow this process's heap by well over 5%, however much the tests before left in it
        pairs = 30_000 + sys.getallocatedblocks() // 8
        probe = Node()
        probe.partner = Node()
        probe.partner.partner = probe
        gone = weakref.ref(probe)
        del probe
        # Cycles that lived a while (a closed connection's) reach the oldest generation, then become
        # garbage there: the young collections cannot free them, the heap has grown.
        held = []
        for _ in range(pairs):
            a, b = Node(), Node()
            a.partner, b.partner = b, a
            held.append(a)
        gc.collect(1)
        del a, b, held
        with full_collections() as seen:
            for _ in range(50):
                await asyncio.sleep(0.01)
                if seen:
                    break
        assert len(seen) == 1 and collector.full_collections == 1
        assert gone() is None
        assert collector.last_pause_s > 0
        assert trimmed.wait(5)
        # The heap is back near its size: no second collection for the same growth.
        await asyncio.sleep(0.1)
        assert collector.full_collections == 1
    finally:
        collector.uninstall()


async def test_uninstall_gives_cpython_its_policy_back(cpython_policy):
    before = gc.get_threshold()
    collector = HeapGrowthCollector()
    collector.install()
    assert gc.get_threshold()[2] > 1_000_000
    assert gc.get_freeze_count() > 0  # start-up's objects: not walked again
    collector.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def young_objects() -> int:
    return len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))


async def replace_a_fleet_of_waiters(waiters: int = 20_000, chunk: int = 500) -> int:
    """Each charger's message frees the waiter its connection held (old by then) and allocates the next
    (young): allocations minus deallocations stay near zero, CPython's count never reaches its threshold,
    and the young generations grow with every message. The most young objects seen while it went on."""
    fleet = [Waiter() for _ in range(waiters)]
    gc.collect()  # the fleet's waiters are old now
    most = 0
    for start in range(0, waiters, chunk):
        for i in range(start, start + chunk):
            fleet[i] = Waiter()
        most = max(most, young_objects())
        await asyncio.sleep(0.003)  # the event loop between messages: the collector's timers run
    return most


async def test_the_young_generations_are_swept_however_the_counts_stand(cpython_policy):
    # Without the sweeps, the young generations hold every waiter allocated (three objects each): this
    # shows the traffic is the kind that does it, so the second half can fail.
    collector = HeapGrowthCollector(GrowthRule(min_growth_blocks=10**9), young_every_s=None)
    collector.install()
    try:
        assert await replace_a_fleet_of_waiters() > 40_000
    finally:
        collector.uninstall()

    collector = HeapGrowthCollector(GrowthRule(min_growth_blocks=10**9), young_every_s=0.01, middle_every=2)
    collector.install()
    try:
        assert await replace_a_fleet_of_waiters() < 15_000
        assert collector.young_sweeps >= 5
    finally:
        collector.uninstall()
