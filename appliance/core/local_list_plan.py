"""How to bring a charger's local authorization list to what the rules say: pure planning.

In: the entries the charger should hold, what it holds (or that nobody knows), and its limits. Out:
the SendLocalList updates to send, in order, and the tags a too-short list leaves out. Every update
gets a version of its own and only the last carries the target version: a sync cut off half-way
leaves the charger at a version that is not the target, so the next comparison sees the mismatch
and starts over, instead of taking a half-sent list for a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from appliance.core.link import LocalListEntry

# The rule for a list longer than the charger holds, in words for the report.
MOST_RECENTLY_USED_FIRST = "most recently used first"


@dataclass(frozen=True)
class Limits:
    max_entries: int | None = None  # LocalAuthListMaxLength (1.6), LocalAuthListCtrlr.Entries maxLimit (2.0.1)
    per_message: int | None = None  # SendLocalListMaxLength (1.6), LocalAuthListCtrlr.ItemsPerMessage (2.0.1)


@dataclass(frozen=True)
class Update:
    version: int
    full: bool
    entries: tuple[LocalListEntry, ...]


@dataclass(frozen=True)
class Plan:
    updates: tuple[Update, ...]
    target_version: int  # the charger's version once every update is accepted
    left_out: tuple[str, ...] = ()  # tags the rules allow that do not fit on the charger
    rule: str = ""  # how the ones that fit were chosen, when some were left out


def fit(entries: Iterable[LocalListEntry], max_entries: int | None,
        rank: Callable[[LocalListEntry], object]) -> tuple[list[LocalListEntry], list[str]]:
    """The entries that fit, best ranked first (the caller's rank: e.g. most recent use), and the
    tags left out. Refused tags (not Accepted) are ranked after accepted ones: a charger that
    cannot hold everything should first know whom to let charge."""
    ordered = sorted(entries, key=lambda e: (e.status != "Accepted", rank(e), e.id_tag))
    if max_entries is None or len(ordered) <= max_entries:
        return ordered, []
    return ordered[:max_entries], [e.id_tag for e in ordered[max_entries:]]


def plan(target: list[LocalListEntry], on_charger: dict[str, LocalListEntry] | None, charger_version: int | None,
         known_version: int | None, next_version: int, limits: Limits) -> Plan:
    """Updates that bring the charger from what it holds to `target` (already fitted to its size).

    `on_charger` and `known_version` are what the appliance last got accepted; when the charger's own
    version (`charger_version`) differs, or the appliance knows nothing, only a full update is safe.
    Versions of the updates count up from `next_version`.
    """
    wanted = {e.id_tag: e for e in target}
    in_sync = on_charger is not None and charger_version is not None and charger_version == known_version
    if in_sync:
        removals = [LocalListEntry(tag, None) for tag in sorted(set(on_charger) - set(wanted))]
        changes = [e for tag, e in sorted(wanted.items()) if on_charger.get(tag) != e]
        differential = removals + changes  # removals first: the list never outgrows the charger on the way
        if not differential:
            return Plan((), charger_version)
        if len(differential) <= len(target):  # else a full update says it in fewer entries
            return _numbered([(False, chunk) for chunk in _chunks(differential, limits.per_message)], next_version)
    per_message = limits.per_message
    if per_message is None or len(target) <= per_message:
        return _numbered([(True, list(wanted.values()))], next_version)
    # Too long for one message: an empty full update, then the entries in differential chunks.
    return _numbered([(True, [])] + [(False, chunk) for chunk in _chunks(list(wanted.values()), per_message)],
                     next_version)


def _chunks(entries: list[LocalListEntry], size: int | None) -> list[list[LocalListEntry]]:
    if not size:
        return [entries]
    return [entries[i:i + size] for i in range(0, len(entries), size)]


def _numbered(steps: list[tuple[bool, list[LocalListEntry]]], next_version: int) -> Plan:
    updates = tuple(Update(next_version + i, full, tuple(entries)) for i, (full, entries) in enumerate(steps))
    return Plan(updates, updates[-1].version)
