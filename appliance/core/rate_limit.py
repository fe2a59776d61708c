"""Rate limits with bounded memory: a token bucket per key (a client address, a charger id).

A key that has used nothing for a while is forgotten (its bucket would be full again), and when
more than `max_keys` keys are live the one used longest ago is dropped, so a flood from many
addresses costs at most `max_keys` small entries. Dropping a key forgives it: a limiter that must
hold whatever the number of sources needs an overall key beside the per-source ones.

Pure: the caller gives the time (`now`, seconds of a monotonic clock).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable


class RateLimiter:
    def __init__(self, per_minute: float, burst: int | None = None, max_keys: int = 10_000) -> None:
        """`per_minute` attempts a minute per key, up to `burst` at once (default: a minute's worth);
        a `per_minute` of 0 means no limit."""
        self.rate_per_s = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, round(per_minute)))
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_s(self, key: Hashable, now: float) -> float:
        """Seconds until `key` may make an attempt; 0 if it may now. Uses nothing up."""
        if not self.enabled:
            return 0.0
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_per_s

    def take(self, key: Hashable, now: float) -> float:
        """Count one attempt of `key`: 0 if it was allowed, else the seconds to wait (nothing counted)."""
        wait = self.wait_s(key, now)
        if wait == 0.0 and self.enabled:
            self._store(key, self._tokens(key, now) - 1, now)
        return wait

    def give_back(self, key: Hashable, now: float) -> None:
        """Undo one attempt `take` counted (it turned out not to count)."""
        if self.enabled and key in self._buckets:
            self._store(key, min(self.burst, self._tokens(key, now) + 1), now)

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def _tokens(self, key: Hashable, now: float) -> float:
        found = self._buckets.get(key)
        if found is None:
            return self.burst
        tokens, at = found
        return min(self.burst, tokens + max(0.0, now - at) * self.rate_per_s)

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        oldest_key, (oldest_tokens, oldest_at) = next(iter(self._buckets.items()))
        # The least recently used bucket, if it has refilled, is worth nothing: drop it (one a call
        # keeps the dict to the keys active within about one refill period).
        if oldest_tokens + (now - oldest_at) * self.rate_per_s >= self.burst:
            del self._buckets[oldest_key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
