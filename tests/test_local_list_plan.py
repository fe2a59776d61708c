"""Planning a charger's local list: table-driven cases and properties (hypothesis) against a charger
that keeps its list as OCPP 1.6 §5.15/§6.47 (and 2.0.1 D01) say."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.link import LocalListEntry
from appliance.core.local_list_plan import Limits, Update, fit, plan


@dataclass
class SpecCharger:
    """Refuses (Failed) an update longer than it takes in one message or one that would overflow it;
    otherwise a full update replaces the list, a differential one adds, changes and (entries without
    a status) removes; either sets the version it names."""

    limits: Limits
    entries: dict[str, LocalListEntry] = field(default_factory=dict)
    version: int = 0

    def send(self, update: Update) -> str:
        if self.limits.per_message is not None and len(update.entries) > self.limits.per_message:
            return "Failed"
        after = {} if update.full else dict(self.entries)
        for entry in update.entries:
            if entry.status is None:
                after.pop(entry.id_tag, None)
            else:
                after[entry.id_tag] = entry
        if self.limits.max_entries is not None and len(after) > self.limits.max_entries:
            return "Failed"
        self.entries, self.version = after, update.version
        return "Accepted"


def entry(tag: str, status: str = "Accepted") -> LocalListEntry:
    return LocalListEntry(tag, status)


A, B, C, D = entry("A"), entry("B"), entry("C"), entry("D")


@pytest.mark.parametrize("target, on_charger, charger_version, known_version, limits, expected", [
    # nobody knows what the charger holds: one full update
    ([A, B], None, None, None, Limits(), [(10, True, ["A", "B"])]),
    # the charger says another version than we sent: full update, whatever we think it holds
    ([A, B], {"A": A}, 3, 4, Limits(), [(10, True, ["A", "B"])]),
    # in step: only the difference, removals first
    ([A, C], {"A": A, "B": B}, 4, 4, Limits(), [(10, False, ["B", "C"])]),
    # a status change is a differential entry
    ([A, entry("B", "Blocked")], {"A": A, "B": B}, 4, 4, Limits(), [(10, False, ["B"])]),
    # in step and nothing changed: nothing to send
    ([A, B], {"A": A, "B": B}, 4, 4, Limits(), []),
    # a difference longer than the list itself: a full update says it shorter
    ([A], {"B": B, "C": C}, 4, 4, Limits(), [(10, True, ["A"])]),
    # too long for one message: an empty full update, then chunks; only the last has the target's version
    ([A, B, C, D], None, None, None, Limits(per_message=3), [(10, True, []), (11, False, ["A", "B", "C"]),
                                                             (12, False, ["D"])]),
    # emptying the list
    ([], {"A": A}, 1, 1, Limits(), [(10, True, [])]),
])
def test_plans(target, on_charger, charger_version, known_version, limits, expected):
    result = plan(target, on_charger, charger_version, known_version, 10, limits)
    assert [(u.version, u.full, [e.id_tag for e in u.entries]) for u in result.updates] == expected
    assert result.target_version == (expected[-1][0] if expected else charger_version)


def test_fit_keeps_the_best_ranked_and_accepted_first():
    used = {"A": 1, "B": 5, "C": 3, "X": 9}
    entries = [A, B, C, entry("X", "Blocked")]
    kept, left_out = fit(entries, 2, rank=lambda e: -used[e.id_tag])
    assert [e.id_tag for e in kept] == ["B", "C"] and left_out == ["A", "X"]
    assert fit(entries, None, rank=lambda e: 0) == (sorted(entries, key=lambda e: (e.status != "Accepted",
                                                                                     e.id_tag)), [])


tags = st.sampled_from([f"T{i}" for i in range(12)])
statuses = st.sampled_from(["Accepted", "Blocked", "Expired"])
lists = st.dictionaries(tags, statuses, max_size=12).map(
    lambda d: [LocalListEntry(t, s) for t, s in sorted(d.items())])
limit_values = st.one_of(st.none(), st.integers(1, 12))


@settings(max_examples=300, deadline=None)
@given(start=lists, target=lists, per_message=limit_values, max_entries=limit_values,
       charger_knows=st.booleans(), versions_agree=st.booleans(), start_version=st.integers(0, 50))
def test_after_the_plan_the_charger_holds_exactly_what_fits_and_our_version(
        start, target, per_message, max_entries, charger_knows, versions_agree, start_version):
    limits = Limits(max_entries, per_message)
    charger = SpecCharger(limits)
    kept_start, _ = fit(start, max_entries, rank=lambda e: 0)
    charger.entries, charger.version = {e.id_tag: e for e in kept_start}, start_version
    known = dict(charger.entries) if charger_knows else None
    known_version = start_version if versions_agree else start_version + 1
    kept, left_out = fit(target, max_entries, rank=lambda e: 0)
    result = plan(kept, known, charger.version, known_version, start_version + 2, limits)
    for update in result.updates:
        assert charger.send(update) == "Accepted", update  # never too long, never overflowing on the way
    assert charger.entries == {e.id_tag: e for e in kept}
    assert charger.version == result.target_version
    assert len(kept) + len(left_out) == len(target)
    if result.updates:
        assert [u.version for u in result.updates] == sorted({u.version for u in result.updates})


@settings(max_examples=200, deadline=None)
@given(target=lists, per_message=st.integers(1, 5), cut=st.integers(0, 10))
def test_a_sync_cut_off_half_way_is_seen_as_out_of_step(target, per_message, cut):
    charger = SpecCharger(Limits(per_message=per_message))
    result = plan(target, None, None, None, 1, charger.limits)
    sent = result.updates[:cut]
    for update in sent:
        charger.send(update)
    if len(sent) < len(result.updates):
        assert charger.version != result.target_version  # the next comparison starts over
