"""Addresses and what they may do: the networks chargers may connect from (`charger_networks`),
and the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed
(`trusted_proxies`). Pure functions on address text; no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """"10.0.0.0/24, 192.168.1.7, fd00::/8" -> networks; ValueError naming the entry that is wrong."""
    return tuple(_network(entry) for entry in _entries(text))


def _entries(text: str) -> list[str]:
    return [entry for entry in re.split(r"[\s,;]+", text or "") if entry]


def _network(entry: str) -> Network:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an address or a network (e.g. 10.0.0.0/24)") from None


def address_of(text: str | None) -> Address | None:
    """An address as the transport gives it (an IPv6 zone or an IPv4-mapped IPv6 address allowed)."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(text: str | None, networks: tuple[Network, ...]) -> bool:
    address = address_of(text)
    return address is not None and any(address.version == n.version and address in n for n in networks)


@dataclass(frozen=True)
class ChargerNetworks:
    """`charger_networks`: "NETWORK, ..." for every charger, "ID=NETWORK" for one charger (which may
    then connect only from its own networks). No entries at all: any address."""

    general: tuple[Network, ...] = ()
    own: dict[str, tuple[Network, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "ChargerNetworks":
        general: list[Network] = []
        own: dict[str, list[Network]] = {}
        for entry in _entries(text):
            identity, sep, network = entry.rpartition("=")
            if sep and not identity:
                raise ValueError(f"{entry!r}: a charger id is missing before '='")
            (own.setdefault(identity, []) if sep else general).append(_network(network))
        return cls(tuple(general), {identity: tuple(nets) for identity, nets in own.items()})

    def allows(self, identity: str, client: str | None) -> bool:
        networks = self.own.get(identity, self.general)
        return not networks or within(client, networks)


def forwarded_client(peer: str | None, secure: bool, forwarded_for: str | None, forwarded_proto: str | None,
                     trusted: tuple[Network, ...]) -> tuple[str | None, bool]:
    """(client address, whether it used TLS) for a request that came from `peer`. Only a trusted proxy's
    headers count: the client is the right-most X-Forwarded-For hop that is not a trusted proxy (hops
    further left are whatever the client wrote), its scheme the first X-Forwarded-Proto."""
    if not trusted or not within(peer, trusted):
        return peer, secure
    client = peer
    for hop in reversed([h.strip() for h in (forwarded_for or "").split(",") if h.strip()]):
        if address_of(hop) is None:
            break
        client = hop
        if not within(hop, trusted):
            break
    if forwarded_proto:
        secure = forwarded_proto.split(",")[0].strip().lower() in ("https", "wss")
    return client, secure
