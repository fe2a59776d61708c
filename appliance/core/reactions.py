"""Commands the core sends on its own when something changes, so staff need not think of them."""

from __future__ import annotations

from appliance.core import events as ev
from appliance.core.services import Core


def subscribe_reactions(core: Core) -> None:
    async def ask_accepted_charger_to_boot(event: ev.ChargerChanged) -> None:
        # A pending charger would otherwise wait out its retry interval before it may work.
        if event.change == "accepted" and core.links.get(event.identity) is not None:
            await core.commands.send(event.identity, "trigger_message", {"message": "BootNotification"},
                                     actor="system", reason="charger accepted: ask it to boot again")

    core.bus.subscribe(ev.ChargerChanged, ask_accepted_charger_to_boot)
