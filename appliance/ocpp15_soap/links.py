"""SOAP chargers hold no connection: the appliance commands them at the address they gave
(WS-Addressing From/ReplyTo) or that was configured. This keeps one ChargerLink in the core's
registry for every SOAP charger with such an address, and follows the address as it changes."""

from __future__ import annotations

import logging
from typing import Callable

from appliance.core import events as ev
from appliance.core.link import ChargerLink
from appliance.core.services import Core

log = logging.getLogger(__name__)

# protocol -> the link class, constructed as cls(identity, endpoint_url, core)
LinkFactory = Callable[[str, str, Core], ChargerLink]


class SoapLinks:
    def __init__(self, core: Core, factories: dict[str, LinkFactory]) -> None:
        self.core = core
        self.factories = factories
        self._links: dict[str, ChargerLink] = {}

    async def start(self) -> None:
        for record in await self.core.chargers.list():
            self._follow(record.identity, record.protocol, record.endpoint_url)
        self.core.bus.subscribe(ev.ChargerChanged, self._on_changed)

    async def _on_changed(self, event: ev.ChargerChanged) -> None:
        if event.change in ("reachable", "unreachable"):  # the links' own reports
            return
        record = await self.core.chargers.get(event.identity)
        if record is None:
            self._drop(event.identity)
        else:
            self._follow(record.identity, record.protocol, record.endpoint_url)

    def _follow(self, identity: str, protocol: str, endpoint_url: str) -> None:
        factory = self.factories.get(protocol)
        current = self._links.get(identity)
        if factory is None or not endpoint_url:
            self._drop(identity)
            return
        if current is not None and current.protocol == protocol:
            current.set_endpoint(endpoint_url)
            return
        self._drop(identity)
        link = self._links[identity] = factory(identity, endpoint_url, self.core)
        self.core.links.register(link)
        log.info("%s is commanded at %s (%s)", identity, endpoint_url, protocol)

    def _drop(self, identity: str) -> None:
        link = self._links.pop(identity, None)
        if link is not None:
            self.core.links.unregister(link)
