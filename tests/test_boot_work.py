"""After a depot-wide boot the appliance configures chargers a few at a time (setting
boot_work_slots), in turn, every one of them in the end; /healthz shows the queue."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from appliance.config import SettingsError, load_settings
from appliance.core.boot_work import BootWork
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16


class SharedLog(list):
    """A charger's `received` that also notes (identity, action) in one log for all chargers."""

    def __init__(self, identity: str, log: list) -> None:
        super().__init__()
        self.identity, self.log = identity, log

    def append(self, item) -> None:
        super().append(item)
        self.log.append((self.identity, item[0]))


async def test_chargers_booting_at_once_are_configured_one_slot_at_a_time(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", local_list_sync=True, boot_work_slots=1))
    await add_fleet(app.core, {"CARD1": {}})
    names = [f"CP{i}" for i in range(5)]
    for name in names:
        await app.core.chargers.add(name, "ocpp1.6-json")
    # Adding the fleet started a round of syncs of whoever is connected: let it end before anyone is.
    await wait_for(lambda: app.core.local_lists._pending is None or app.core.local_lists._pending.done())
    log: list[tuple[str, str]] = []
    seen_waiting = []
    async with contextlib.AsyncExitStack() as stack:
        chargers = []
        for name in names:
            cp = await stack.enter_async_context(connect16(app.url, name, boot=False))
            cp.received = SharedLog(name, log)
            chargers.append(cp)
        for cp in chargers:
            await cp.boot()

        async def configured() -> bool:
            status, health = await app.api("GET", "/healthz")
            assert status == 200
            seen_waiting.append(health["chargers_being_configured"])
            return all(cp.local_list == {"CARD1": "Accepted"} for cp in chargers) and \
                health["chargers_being_configured"] == {"waiting": 0, "running": 0}

        await wait_for(configured, timeout=30, interval=0.05)

    assert max(s["running"] for s in seen_waiting) == 1
    assert max(s["waiting"] for s in seen_waiting) >= 1  # the others waited their turn
    # Each charger's boot commands (offline behaviour, list version, list) came as one run, not interleaved.
    order = [identity for identity, _ in log]
    runs = [identity for i, identity in enumerate(order) if i == 0 or order[i - 1] != identity]
    assert sorted(runs) == sorted(names), log
    assert {action for _, action in log} >= {"ChangeConfiguration", "GetLocalListVersion", "SendLocalList"}


def test_boot_work_slots_must_be_at_least_one(tmp_path):
    with pytest.raises(SettingsError, match="boot_work_slots .*at least 1"):
        load_settings({"data_dir": tmp_path}, environ={"APPLIANCE_BOOT_WORK_SLOTS": "0"})


async def occupied(boot_work) -> tuple[asyncio.Event, asyncio.Task]:
    """A slot held until the returned event is set."""
    release = asyncio.Event()
    holder = asyncio.ensure_future(boot_work.run("HOLDER", "x", release.wait))
    await asyncio.sleep(0)
    return release, holder


async def test_a_charger_that_boots_again_while_waiting_replaces_its_earlier_work():
    boot_work = BootWork(slots=1)
    release, holder = await occupied(boot_work)
    ran = []

    async def work(name):
        ran.append(name)

    first = asyncio.ensure_future(boot_work.run("CP1", "local list", lambda: work("first")))
    other_kind = asyncio.ensure_future(boot_work.run("CP1", "device model", lambda: work("report")))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(boot_work.run("CP1", "local list", lambda: work("second")))
    await asyncio.sleep(0)
    assert await first is False  # at once, not after waiting its turn
    assert boot_work.as_json() == {"waiting": 2, "running": 1}
    release.set()
    assert await asyncio.gather(holder, other_kind, second) == [True, True, True]
    assert ran == ["report", "second"]
    assert boot_work.as_json() == {"waiting": 0, "running": 0}


async def test_a_charger_that_disconnects_leaves_the_queue_and_a_cancelled_wait_keeps_no_slot():
    boot_work = BootWork(slots=1)
    release, holder = await occupied(boot_work)
    gone = asyncio.ensure_future(boot_work.run("CP2", "local list", lambda: asyncio.sleep(0)))
    cancelled = asyncio.ensure_future(boot_work.run("CP3", "local list", lambda: asyncio.sleep(0)))
    await asyncio.sleep(0)
    boot_work.forget("CP2")
    assert await gone is False
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert boot_work.waiting == 0
    release.set()
    await holder
    # the one slot is free again: the next piece of work runs at once
    assert await asyncio.wait_for(boot_work.run("CP4", "local list", lambda: asyncio.sleep(0)), 1) is True
