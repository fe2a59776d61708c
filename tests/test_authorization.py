"""The authorization rule: one table row per rule, and invariants by hypothesis."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.authorization import AuthStatus, decide, normalise_id_tag
from appliance.store.users import TagRecord

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


def tag(status="active", expires_at=None, max_concurrent_tx=1, parent=""):
    return TagRecord(id=1, id_tag="CARD1", token_type="ISO14443", driver="alice", company="Blue Taxi",
                     status=status, expires_at=expires_at, parent_id_tag=parent,
                     max_concurrent_tx=max_concurrent_tx, note="")


@pytest.mark.parametrize("record, running, expected", [
    (tag(), 0, AuthStatus.ACCEPTED),
    (None, 0, AuthStatus.INVALID),
    (tag(status="blocked"), 0, AuthStatus.BLOCKED),
    (tag(expires_at=NOW - dt.timedelta(seconds=1)), 0, AuthStatus.EXPIRED),
    (tag(expires_at=NOW), 0, AuthStatus.EXPIRED),  # valid until, not through, the expiry instant
    (tag(expires_at=NOW + dt.timedelta(days=1)), 0, AuthStatus.ACCEPTED),
    (tag(), 1, AuthStatus.CONCURRENT_TX),
    (tag(max_concurrent_tx=2), 1, AuthStatus.ACCEPTED),
    (tag(max_concurrent_tx=0), 5, AuthStatus.ACCEPTED),  # 0 means no limit
    (tag(status="blocked", expires_at=NOW - dt.timedelta(days=1)), 0, AuthStatus.BLOCKED),  # blocked wins
    (tag(expires_at=NOW - dt.timedelta(days=1)), 1, AuthStatus.EXPIRED),  # expiry before concurrency
])
def test_decide(record, running, expected):
    assert decide(record, NOW, running).status is expected


def test_decide_carries_parent_and_expiry():
    result = decide(tag(parent="FLEET", expires_at=NOW + dt.timedelta(days=3)), NOW, 0)
    assert (result.parent_id_tag, result.expires_at) == ("FLEET", NOW + dt.timedelta(days=3))


@pytest.mark.parametrize("raw, normalised", [
    ("04a1b2c3", "04A1B2C3"),
    ("  04A1B2C3\n", "04A1B2C3"),  # readers and forms add whitespace
    ("DEADBEEF", "DEADBEEF"),
])
def test_normalise_id_tag(raw, normalised):
    assert normalise_id_tag(raw) == normalised


@given(status=st.sampled_from(["active", "blocked"]), expiry_offset_s=st.one_of(st.none(), st.integers(-10**6, 10**6)),
       limit=st.integers(0, 5), running=st.integers(0, 10))
def test_only_an_active_unexpired_tag_within_its_limit_is_accepted(status, expiry_offset_s, limit, running):
    expires = None if expiry_offset_s is None else NOW + dt.timedelta(seconds=expiry_offset_s)
    accepted = decide(tag(status, expires, limit), NOW, running).accepted
    assert accepted == (status == "active" and (expires is None or expires > NOW)
                        and (limit == 0 or running < limit))


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20))
def test_normalising_is_idempotent_and_case_free(raw):
    assert normalise_id_tag(normalise_id_tag(raw)) == normalise_id_tag(raw) == normalise_id_tag(raw.lower())


BLUE, RED = 1, 2


@pytest.mark.parametrize("company, allowed, status", [
    (BLUE, None, AuthStatus.ACCEPTED),  # a charger open to the whole depot
    (BLUE, frozenset({BLUE}), AuthStatus.ACCEPTED),
    (RED, frozenset({BLUE}), AuthStatus.NOT_AT_THIS_LOCATION),
    (None, frozenset({BLUE}), AuthStatus.NOT_AT_THIS_LOCATION),  # a driver of no company
    (None, None, AuthStatus.ACCEPTED),
])
def test_decide_at_a_charger_open_to_some_companies(company, allowed, status):
    record = dataclasses.replace(tag(), company_id=company)
    assert decide(record, NOW, 0, allowed).status is status


def test_blocked_and_expired_come_before_the_place():
    assert decide(dataclasses.replace(tag("blocked"), company_id=RED), NOW, 0, frozenset({BLUE})).status \
        is AuthStatus.BLOCKED
