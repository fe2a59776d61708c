"""How fast one charger's messages are taken in: a token bucket per connection that slows reading
(backpressure) instead of refusing, so that a charger flooding the box cannot starve the others.

OCPP has no "slow down" error, and a CALLERROR to a transaction message only makes the charger send
it again. Reading its next frame later does what TCP flow control is for: the charger's socket
buffer fills and its sends wait. A charger replaying a queue after an outage gets `burst` messages
at once, then `rate_per_s`; ordinary chargers (a meter value every few seconds per connector, a
heartbeat every few minutes) never meet the limit.

Even under the limit, a connection whose frames are already buffered would be served without the
event loop ever switching to another task (a read that finds data does not suspend): `wait()`
always yields once, so busy connections take turns message by message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

RATE_PER_S = 20.0
BURST = 500


@dataclass
class TokenBucket:
    """`take(now)`: the seconds to wait before one more message may be handled (0.0: at once).
    Pure: the clock is an argument."""

    rate_per_s: float
    burst: float
    tokens: float | None = None  # full at the first take; below 0 while messages wait
    at: float = 0.0

    def take(self, now: float) -> float:
        if self.tokens is None:
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate_per_s)
        self.at = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate_per_s


class MessagePace:
    """One connection's pace. An OCPP-J session awaits `wait()` before handling each frame it read."""

    def __init__(self, identity: str, rate_per_s: float = RATE_PER_S, burst: float = BURST) -> None:
        self.identity = identity
        self.bucket = TokenBucket(rate_per_s, burst)
        self.slowed = False
        self.delayed_s = 0.0  # in total, for a status page or a bench

    async def wait(self) -> None:
        if self.bucket.rate_per_s <= 0:  # no limit (setting charger_messages_per_s = 0): still take turns
            await asyncio.sleep(0)
            return
        delay = self.bucket.take(time.monotonic())
        if delay <= 0:
            if self.slowed and (self.bucket.tokens or 0) >= self.bucket.burst / 2:
                self.slowed = False
                log.info("%s: back under %g messages/s", self.identity, self.bucket.rate_per_s)
            await asyncio.sleep(0)
            return
        if not self.slowed:  # once per episode, not per message
            self.slowed = True
            log.warning("%s sends more than %g messages/s (after a burst of %g): its messages are read more "
                        "slowly", self.identity, self.bucket.rate_per_s, self.bucket.burst)
        self.delayed_s += delay
        await asyncio.sleep(delay)
