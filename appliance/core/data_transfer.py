"""Vendor-specific DataTransfer from chargers: handlers per vendor id, UnknownVendorId otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataTransferAnswer:
    status: str  # Accepted, Rejected, UnknownMessageId, UnknownVendorId
    data: str | None = None


VendorHandler = Callable[[str, str | None, str | None], Awaitable[DataTransferAnswer]]


class DataTransfers:
    def __init__(self) -> None:
        self._vendors: dict[str, VendorHandler] = {}

    def register(self, vendor_id: str, handler: VendorHandler) -> None:
        self._vendors[vendor_id] = handler

    async def receive(self, identity: str, vendor_id: str, message_id: str | None, data: str | None
                      ) -> DataTransferAnswer:
        handler = self._vendors.get(vendor_id)
        if handler is None:
            # The message itself stays in the communication log for whoever needs it.
            log.info("%s sent DataTransfer for unknown vendor %r (message %r)", identity, vendor_id, message_id)
            return DataTransferAnswer("UnknownVendorId")
        return await handler(identity, message_id, data)
