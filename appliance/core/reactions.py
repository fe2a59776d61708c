"""Commands the core sends on its own when something changes, so staff need not think of them."""

from __future__ import annotations

from collections.abc import Awaitable

from appliance.core import events as ev
from appliance.core.services import Core


def subscribe_reactions(core: Core) -> None:
    async def ask_accepted_charger_to_boot(event: ev.ChargerChanged) -> None:
        # A pending charger would otherwise wait out its retry interval before it may work.
        if event.change == "accepted" and core.links.get(event.identity) is not None:
            await core.commands.send(event.identity, "trigger_message", {"message": "BootNotification"},
                                     actor="system", reason="charger accepted: ask it to boot again")

    core.bus.subscribe(ev.ChargerChanged, ask_accepted_charger_to_boot)

    stopping: set[int] = set()

    def stop_at_tariff_limit(event: ev.SessionUpdated) -> Awaitable[None] | None:
        # A tariff may end sessions after so long or so much energy (a paid hour, a shared budget).
        # Asked at every meter value, and most sessions have no limit: those cost no task.
        if event.transaction_id is None or event.transaction_id in stopping \
                or core.billing.surely_within_limits(event.transaction_id):
            return None
        return stop_if_reached(event)

    async def stop_if_reached(event: ev.SessionUpdated) -> None:
        reached = await core.billing.limit_reached(event.transaction_id)
        if reached and event.transaction_id not in stopping:
            stopping.add(event.transaction_id)
            await core.commands.send(event.identity, "remote_stop", {"transaction_id": event.transaction_id},
                                     actor="system:tariff", reason=f"tariff limit: {reached}")

    core.bus.subscribe(ev.SessionUpdated, stop_at_tariff_limit)
    core.bus.subscribe(ev.SessionStopped, lambda event: stopping.discard(event.transaction_id))
