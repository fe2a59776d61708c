"""When the server's cyclic garbage collector looks at the whole heap.

CPython collects its oldest generation once a quarter of that generation's size has been promoted
into it since the last full collection. A server holding thousands of chargers promotes objects all
the time that are not garbage and are not cyclic: every connection waiting for its charger's next
message holds a few awaitables for that wait (seconds to minutes), long enough to reach the oldest
generation, and reference counting frees them when the message arrives. With 10,000 chargers the
heap is about 1.5 million tracked objects, so every 30-40 s a full collection stopped the event loop
for about 1.3 s, and every charger's answer waited for it (PERFORMANCE.md, "Where the time goes").

Here the oldest generation is collected when the heap has grown, by a quarter since the last full
collection (and at least `min_growth_blocks`; more while the growth is live data, see
`GrowthRule.next_growth`), which is what a full collection exists for: cycles
left behind by closed connections and failed calls grow the heap and are collected as before, while
traffic through a fleet of steady size no longer stops the server. The younger generations are left
to CPython's own thresholds. What the server built at start-up (modules, classes, routes, schema
validators) is frozen: it lives as long as the process, so no collection needs to walk it.

The younger generations are swept on a clock too (`young_every_s`). CPython collects the youngest
when allocations minus deallocations pass 700, and a fleet at work keeps that difference near zero
while the youngest generation grows without bound: each message frees the waiter its connection
held since the last one (old by now) and allocates the next (young), one for one. With 10,000
chargers at 1,000 messages a second the young generations held 50,000-200,000 objects by the time a
collection came, and that collection stopped the event loop for 20-110 ms (the held fleet's tail,
PERFORMANCE.md item 9). Swept ten times a second, the youngest holds a tenth of a second's survivors
and each sweep takes a fraction of a millisecond; every tenth sweep takes the middle generation too.
CPython's own thresholds stay as they were, for bursts between sweeps.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

NEVER = 2**31 - 1  # CPython's generation thresholds are C ints
LONG_PAUSE_S = 0.1  # a full collection this long is worth a line in the log


@dataclass(frozen=True)
class GrowthRule:
    growth: float = 0.25
    min_growth_blocks: int = 200_000  # ~10 MB of small objects: a small depot's heap is not collected for noise
    max_growth: float = 1.0

    def due(self, blocks_after_last: int, blocks_now: int, growth: float | None = None) -> bool:
        growth = self.growth if growth is None else growth
        return blocks_now - blocks_after_last >= max(self.min_growth_blocks, growth * blocks_after_last)

    def next_growth(self, growth: float, grown_blocks: int, freed_blocks: int) -> float:
        """The growth to wait for after a collection. One that found less than half the growth to be
        garbage saw live data grow (thousands of chargers connecting after an outage): the next waits
        for twice the growth, up to max_growth, sparing the server collections that would find
        nothing, each longer than the last (a second at 10,000 chargers), the last of them as the
        fleet settles. One that finds garbage brings it back to `growth`."""
        if 2 * freed_blocks < grown_blocks:
            return min(2 * growth, self.max_growth)
        return self.growth


def _c_allocator_trim() -> Callable[[], None] | None:
    """glibc's malloc_trim, which gives the pages free inside the C heap back to the system: freed
    memory is otherwise kept for reuse, so the resident size stays at its highest point (the soak
    showed 20-40 MB free inside the heap, growing). None where there is no glibc."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class HeapGrowthCollector:
    """Installed by the server once it is up; `uninstall` gives the process CPython's policy back."""

    def __init__(self, rule: GrowthRule = GrowthRule(), check_every_s: float = 2.0,
                 trim: Callable[[], None] | None = _c_allocator_trim(), young_every_s: float | None = 0.1,
                 middle_every: int = 10) -> None:
        self.rule = rule
        self.trim = trim
        self.check_every_s = check_every_s
        self.young_every_s = young_every_s  # None: CPython's own counts alone decide
        self.middle_every = middle_every
        self.young_sweeps = 0
        self.full_collections = 0
        self.last_pause_s = 0.0
        self.growth = rule.growth  # the growth the next collection waits for (see GrowthRule.next_growth)
        self._baseline = 0
        self._saved_threshold: tuple[int, int, int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._young_timer: asyncio.TimerHandle | None = None

    def install(self) -> None:
        self._saved_threshold = gc.get_threshold()
        gc.collect()
        gc.freeze()
        young, middle, _ = self._saved_threshold
        gc.set_threshold(young, middle, NEVER)
        self._baseline = sys.getallocatedblocks()
        self._schedule()
        if self.young_every_s is not None:
            self._young_timer = asyncio.get_running_loop().call_later(self.young_every_s, self._sweep)

    def uninstall(self) -> None:
        for timer in (self._timer, self._young_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._young_timer = None
        if self._saved_threshold is not None:
            gc.set_threshold(*self._saved_threshold)
            self._saved_threshold = None
            gc.unfreeze()

    def check(self) -> bool:
        """Collect the whole heap if it grew enough; True if it did."""
        before = sys.getallocatedblocks()
        if not self.rule.due(self._baseline, before, self.growth):
            return False
        started = time.perf_counter()
        gc.collect()
        self.last_pause_s = time.perf_counter() - started
        self.full_collections += 1
        after = sys.getallocatedblocks()
        self.growth = self.rule.next_growth(self.growth, before - self._baseline, before - after)
        self._baseline = after
        if self.trim is not None:
            # Off the event loop: it walks the heap (tens of ms for hundreds of MB). ctypes lets go of
            # the interpreter, and Python's small objects do not take the C allocator's lock.
            threading.Thread(target=self.trim, name="malloc-trim", daemon=True).start()
        log.log(logging.INFO if self.last_pause_s >= LONG_PAUSE_S else logging.DEBUG,
                "full garbage collection: %.0f ms, %d small-object blocks live after it",
                self.last_pause_s * 1000, self._baseline)
        return True

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.check_every_s, self._tick)

    def _tick(self) -> None:
        self.check()
        self._schedule()

    def _sweep(self) -> None:
        self.young_sweeps += 1
        gc.collect(1 if self.young_sweeps % self.middle_every == 0 else 0)
        self._young_timer = asyncio.get_running_loop().call_later(self.young_every_s, self._sweep)
