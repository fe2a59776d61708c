"""A charger that never answers: every command to it ends in a clear Timeout in the action log,
its connection is not torn down for it (it may still be charging and metering), and the rest of
the depot (other chargers' commands, local lists) goes on meanwhile."""

from __future__ import annotations

import asyncio
import json

from ocpp.v16 import call as call16

from appliance.core import link as lk
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import VirtualCharger16, serving

TIMEOUT_S = 0.5


class SilentCharger16(VirtualCharger16):
    """Receives the central system's commands and, while `silent`, never answers them (a firmware that
    hangs in its command handler, or drops what it cannot parse)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.silent = True
        self.unanswered: list[str] = []

    async def route_message(self, raw: str) -> None:
        if self.silent and json.loads(raw)[0] == 2:
            self.unanswered.append(json.loads(raw)[2])
            return
        await super().route_message(raw)


async def test_a_charger_that_never_answers_times_out_clearly_and_the_depot_goes_on(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", command_timeout_s=TIMEOUT_S, local_list_sync=True))
    core = app.core
    await add_fleet(core)
    await core.chargers.add("MUTE", "ocpp1.6-json")
    await core.chargers.add("CP2", "ocpp1.6-json")
    async with serving(SilentCharger16, "ocpp1.6", app.url, "MUTE", None, True, True) as mute, \
            serving(VirtualCharger16, "ocpp1.6", app.url, "CP2", None, True, True) as cp2:
        await wait_for(lambda: cp2.local_list.get("CARD1") == "Accepted")  # the list went to CP2 on its boot
        await wait_for(lambda: "GetLocalListVersion" in mute.unanswered)

        reset, other = await asyncio.gather(
            core.commands.send("MUTE", "reset", {"hard": False}, actor="tests", reason="stuck display"),
            core.commands.send("CP2", "reset", {"hard": False}, actor="tests"))
        assert (reset.status, reset.detail) == (lk.TIMEOUT, f"no answer within {TIMEOUT_S:g} s")
        assert other.status == "Accepted"  # not held up by the silent one
        entry = (await core.commands.actions("MUTE", 1))[0]
        assert (entry.action, entry.result_status, entry.reason) == ("reset", lk.TIMEOUT, "stuck display")
        assert entry.result_detail == f"no answer within {TIMEOUT_S:g} s"

        # A change in the user group still reaches the chargers that answer.
        await core.users.add_tag("CARD3", "alice")
        await wait_for(lambda: cp2.local_list.get("CARD3") == "Accepted")

        # Its connection stays: it still reports and gets answers, and is commanded again when it answers.
        assert "MUTE" in core.links.connected()
        assert (await mute.call(call16.Heartbeat())).current_time
        mute.silent = False
        again = await core.commands.send("MUTE", "reset", {"hard": False}, actor="tests")
        assert again.status == "Accepted"
        state = await core.local_lists.state("MUTE")
        assert state is None or state.error  # the list it never answered for is known not to be in step
