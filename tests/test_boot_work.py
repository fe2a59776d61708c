"""After a depot-wide boot the appliance configures chargers a few at a time (setting
boot_work_slots), in turn, every one of them in the end; /healthz shows the queue."""

from __future__ import annotations

import contextlib

import pytest

from appliance.config import SettingsError, load_settings
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
