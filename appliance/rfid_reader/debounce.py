"""One read per presentation: a card held on the reader yields one read, not a stream.

Readers repeat a card while it stays in the field (an RDM6300 several times a second, a PN532 at
every poll). A card counts as presented again only after `hold_s` seconds in which it was not seen
at all; each sighting, passed or suppressed, restarts that wait. Cards are told apart by their bytes,
or their text where the reader gives no bytes, so another card passes at once, even while the first
is still held (two cards at a PN532 may alternate).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.rfid_reader.reads import CardRead


class Debouncer:
    def __init__(self, hold_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self._clock = clock
        self._last_seen: dict[bytes | str, float] = {}

    def accept(self, read: CardRead) -> bool:
        """Whether this sighting is a new presentation (True) or the same card still held (False)."""
        now = self._clock()
        # Forget cards gone for longer than hold_s: their next sighting passes anyway, and the map
        # stays as small as the cards held at once.
        self._last_seen = {key: at for key, at in self._last_seen.items() if now - at < self.hold_s}
        held = read.key in self._last_seen
        self._last_seen[read.key] = now
        return not held
