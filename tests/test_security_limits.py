"""The pure parts of the security rules: rate limits with bounded memory, charger networks, and the
client behind a trusted reverse proxy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from appliance.core.admission import Admission, AdmissionRefused
from appliance.core.networks import ChargerNetworks, forwarded_client, parse_networks
from appliance.core.rate_limit import RateLimiter


def test_a_burst_is_allowed_then_the_wait_is_until_the_next_attempt_refills():
    limiter = RateLimiter(per_minute=10)  # one attempt every 6 s, 10 at once
    assert [limiter.take("a", 0.0) for _ in range(10)] == [0.0] * 10
    assert limiter.take("a", 0.0) == pytest.approx(6.0)
    assert limiter.take("a", 3.0) == pytest.approx(3.0)  # refused attempts count nothing
    assert limiter.take("a", 6.0) == 0.0
    assert limiter.take("b", 0.0) == 0.0  # keys are independent


def test_waiting_uses_nothing_up():
    limiter = RateLimiter(per_minute=1)
    assert limiter.wait_s("a", 0.0) == 0.0 and limiter.wait_s("a", 0.0) == 0.0
    assert limiter.take("a", 0.0) == 0.0 and limiter.wait_s("a", 0.0) == pytest.approx(60.0)


def test_zero_per_minute_is_no_limit():
    limiter = RateLimiter(per_minute=0)
    assert all(limiter.take("a", 0.0) == 0.0 for _ in range(1000)) and len(limiter) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100_000), st.floats(0, 10, allow_nan=False)), max_size=300))
def test_memory_stays_bounded_whatever_the_keys(attempts):
    limiter, now = RateLimiter(per_minute=5, max_keys=50), 0.0
    for key, step in attempts:
        now += step
        limiter.take(key, now)
        assert len(limiter) <= 50


def test_a_quiet_key_is_forgotten():
    limiter = RateLimiter(per_minute=60, max_keys=1000)
    limiter.take("old", 0.0)
    for i in range(5):
        limiter.take(f"new{i}", 120.0)  # "old" refilled long ago: it costs nothing to forget it
    assert len(limiter) == 5


@pytest.mark.parametrize("text, identity, client, allowed", [
    ("", "CP1", "203.0.113.9", True),  # no entries: any address
    ("", "CP1", None, True),
    ("10.0.0.0/24", "CP1", "10.0.0.7", True),
    ("10.0.0.0/24", "CP1", "10.0.1.7", False),
    ("10.0.0.0/24", "CP1", None, False),  # an address not known is not in any network
    ("10.0.0.0/24", "CP1", "::ffff:10.0.0.7", True),  # IPv4 as a dual-stack socket shows it
    ("10.0.0.0/24 CP1=192.168.5.17", "CP1", "10.0.0.7", False),  # its own entry replaces the general one
    ("10.0.0.0/24 CP1=192.168.5.17", "CP1", "192.168.5.17", True),
    ("10.0.0.0/24, CP1=192.168.5.17", "CP2", "10.0.0.7", True),
    ("CP1=192.168.5.17", "CP2", "203.0.113.9", True),  # only CP1 is pinned
    ("fd00::/8", "CP1", "fd00::1%eth0", True),
    ("fd00::/8", "CP1", "not an address", False),
])
def test_charger_networks(text, identity, client, allowed):
    assert ChargerNetworks.parse(text).allows(identity, client) is allowed


@pytest.mark.parametrize("text, message", [("10.0.0.0/33", "'10.0.0.0/33' is not"), ("=10.0.0.1", "id is missing"),
                                           ("CP1=somewhere", "'somewhere' is not")])
def test_a_bad_network_says_which_entry(text, message):
    with pytest.raises(ValueError, match=message):
        ChargerNetworks.parse(text)


PROXY = parse_networks("127.0.0.1, 10.9.0.0/16")


@pytest.mark.parametrize("peer, forwarded_for, proto, expected", [
    ("10.9.0.2", "198.51.100.4", "https", ("198.51.100.4", True)),
    ("10.9.0.2", "6.6.6.6, 198.51.100.4", None, ("198.51.100.4", False)),  # the left is what the client wrote
    ("10.9.0.2", "198.51.100.4, 10.9.0.3", "https, http", ("198.51.100.4", True)),  # through two proxies
    ("10.9.0.2", "", "http", ("10.9.0.2", False)),
    ("10.9.0.2", "garbage, 198.51.100.4", None, ("198.51.100.4", False)),
    ("10.9.0.2", "garbage", None, ("10.9.0.2", False)),
    ("198.51.100.7", "10.0.0.1", "https", ("198.51.100.7", False)),  # not a proxy: its headers are ignored
])
def test_forwarded_client_believes_only_trusted_proxies(peer, forwarded_for, proto, expected):
    assert forwarded_client(peer, False, forwarded_for, proto, PROXY) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert forwarded_client("10.9.0.2", True, "1.2.3.4", "http", ()) == ("10.9.0.2", True)


def test_wrong_passwords_block_that_id_from_that_address_only():
    rules = Admission(failures_per_min=2)
    for _ in range(2):
        rules.attempt("CP1", "10.0.0.5", now=0.0)  # a wrong password: never given back
    with pytest.raises(AdmissionRefused) as refused:
        rules.check_failures("CP1", "10.0.0.5", now=1.0)
    assert refused.value.retry_after_s == pytest.approx(29.0)
    rules.check_failures("CP1", "10.0.0.6", now=1.0)  # the real charger elsewhere is not locked out
    rules.check_failures("CP2", "10.0.0.5", now=1.0)
    rules.check_failures("CP1", "10.0.0.5", now=30.0)


def test_one_address_guessing_many_ids_is_blocked_too():
    rules = Admission(failures_per_min=1)
    for i in range(5):
        rules.attempt(f"CP{i}", "10.0.0.5", now=0.0)
    with pytest.raises(AdmissionRefused):
        rules.check_failures("CP9", "10.0.0.5", now=0.0)


def test_guesses_sent_at_once_are_counted_before_they_are_verified():
    rules = Admission(failures_per_min=3)
    for _ in range(3):  # three verifications in flight, none finished
        rules.attempt("CP1", "10.0.0.5", now=0.0)
    with pytest.raises(AdmissionRefused):
        rules.attempt("CP1", "10.0.0.5", now=0.0)
    rules.succeeded("CP1", "10.0.0.5", now=0.0)  # one of them was the right password: it does not count
    rules.attempt("CP1", "10.0.0.5", now=0.0)


def test_a_right_password_costs_nothing():
    limiter = RateLimiter(per_minute=1)
    limiter.take("a", 0.0)
    limiter.give_back("a", 0.0)
    assert limiter.take("a", 0.0) == 0.0


def test_unknown_ids_are_limited_per_address_overall_and_in_number():
    rules = Admission(unknown_per_min=3, unknown_per_address_per_min=2, unknown_max=10)
    rules.check_unknown("X1", "10.0.0.5", waiting=lambda: 0, now=0.0)
    rules.check_unknown("X2", "10.0.0.5", waiting=lambda: 1, now=0.0)
    with pytest.raises(AdmissionRefused) as per_address:
        rules.check_unknown("X3", "10.0.0.5", waiting=lambda: 2, now=0.0)
    rules.check_unknown("X3", "10.0.0.6", waiting=lambda: 2, now=0.0)
    with pytest.raises(AdmissionRefused) as overall:
        rules.check_unknown("X4", "10.0.0.7", waiting=lambda: 3, now=0.0)
    with pytest.raises(AdmissionRefused) as full:
        rules.check_unknown("X5", "10.0.0.8", waiting=lambda: 10, now=600.0)
    assert per_address.value.retry_after_s and overall.value.retry_after_s and full.value.retry_after_s is None


def test_parse_networks_accepts_addresses_and_networks():
    assert parse_networks("10.0.0.1;fd00::/8") == (ipaddress.ip_network("10.0.0.1/32"),
                                                   ipaddress.ip_network("fd00::/8"))
