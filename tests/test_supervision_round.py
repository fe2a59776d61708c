"""The supervision round looks at every charger, in slices: at 10,000 chargers a round in one go
held up every answer waiting meanwhile for its whole length."""

from __future__ import annotations

import asyncio
import time

from appliance.core import chargers as registry_module
from appliance.core import events as ev
from appliance.core.chargers import (
    ONLINE,
    TEMPORARILY_UNAVAILABLE,
    ChargerRegistry,
    LiveCharger,
)

FLEET = 5 * registry_module.ROUND_SLICE


def fleet(silent_for_s: float) -> ChargerRegistry:
    registry = ChargerRegistry(db=None, bus=ev.EventBus(), journal=None, heartbeat_interval_s=0)
    heard = time.monotonic() - silent_for_s
    for i in range(FLEET):
        registry.live[f"CP{i}"] = LiveCharger(i, f"CP{i}", "ocpp1.6", "accepted", None, state=ONLINE,
                                              connected=True, last_seen=heard)
    return registry


async def answers_during(round_) -> int:
    """How many times another task ran while the round did: an answer waiting on the event loop."""
    ran = 0
    done = False

    async def other() -> None:
        nonlocal ran
        while not done:
            ran += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    ran = 0
    await round_
    done = True
    await task
    return ran


async def test_a_round_over_a_large_fleet_lets_the_event_loop_answer_between_slices():
    registry = fleet(silent_for_s=0)
    assert await answers_during(registry.supervise(temporarily_after_s=60, unavailable_after_s=600)) >= 4


async def test_a_sliced_round_still_finds_every_silent_charger():
    registry = fleet(silent_for_s=120)
    heard_again = registry.live["CP3000"]

    async def one_comes_back() -> None:  # between two slices: its message arrives
        await asyncio.sleep(0)
        heard_again.last_seen = time.monotonic()

    await asyncio.gather(registry.supervise(temporarily_after_s=60, unavailable_after_s=600), one_comes_back())
    states = [live.state for live in registry.live.values()]
    assert states.count(TEMPORARILY_UNAVAILABLE) == FLEET - 1
    assert heard_again.state == ONLINE


async def test_a_charger_removed_during_the_round_is_left_alone():
    registry = fleet(silent_for_s=120)
    gone = registry.live[f"CP{FLEET - 2}"]  # not the first of a slice: every charger after a yield is looked up

    async def removed() -> None:
        await asyncio.sleep(0)
        del registry.live[gone.identity]

    await asyncio.gather(registry.supervise(temporarily_after_s=60, unavailable_after_s=600), removed())
    assert gone.state == ONLINE
