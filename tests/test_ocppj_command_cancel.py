"""A command whose caller gives up takes its call to the charger with it.

A caller's timeout (`ChargerCommands` waits `command_timeout_s`) cancels the link's call; the `ocpp`
library's own call must then stop waiting too. Left running, it would fail later with an error no
one retrieves, and asyncio would log a traceback for it: under a reconnect storm, one per charger.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import wait_for
from tests.virtual_charger import connect16


def pending_library_calls() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().__qualname__ == "ChargePoint.call"]


async def test_a_command_given_up_by_its_caller_stops_waiting_for_the_charger(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        release = asyncio.Event()

        async def hang(**kw):
            await release.wait()

        cp.route_map["Reset"]["_on_action"] = hang
        link = appliance.core.links.get("CP1")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(link.reset(hard=False), 0.2)  # well before the library's 5 s
        await wait_for(lambda: not pending_library_calls(), timeout=2.0)
        release.set()
