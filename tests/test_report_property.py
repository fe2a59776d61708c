"""Splitting sessions among buckets, properties (hypothesis): on random sessions with random readings
and random bucket edges, the shares add up exactly (energy to the Wh, time to the µs, money to the
cent), charging time never exceeds plugged-in time, and cutting a bucket in two changes no total."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.analytics import splitting as sp

EXAMPLES = settings(max_examples=300, deadline=None)
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
SPAN_S = 3 * 86400


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


sessions = st.builds(
    lambda start, length, energy, readings: (at(start), at(start + length), energy,
                                             [(at(start + f * length), wh) for f, wh in readings]),
    st.floats(0, SPAN_S), st.floats(0, 2 * 86400), st.integers(0, 200_000),
    st.lists(st.tuples(st.floats(-0.2, 1.2), st.floats(-1000, 250_000)), max_size=12))
edges = st.lists(st.floats(-86400, SPAN_S + 3 * 86400), min_size=2, max_size=40, unique=True).map(
    lambda xs: [sp.to_us(at(x)) for x in sorted(xs)])


@EXAMPLES
@given(sessions, edges)
def test_shares_add_up_to_the_sessions_part_between_the_edges(session, cut):
    start, end, energy, readings = session
    curve = sp.make_curve(start, end, energy, readings)
    shares = sp.split(curve, cut)
    before, after = sp.energy_outside(curve, cut)
    assert sum(s.energy_wh for s in shares) + before + after == energy
    assert all(s.energy_wh >= 0 for s in shares)
    inside = max(0, min(cut[-1], curve.end_us) - max(cut[0], curve.start_us))
    assert sum(s.plugged_us for s in shares) == inside
    assert all(0 <= s.charging_us <= s.plugged_us for s in shares)


@EXAMPLES
@given(sessions, edges, st.floats(0, 1))
def test_cutting_a_bucket_in_two_changes_no_total(session, cut, where):
    start, end, energy, readings = session
    curve = sp.make_curve(start, end, energy, readings)
    i = int(where * (len(cut) - 1)) % (len(cut) - 1)
    middle = (cut[i] + cut[i + 1]) // 2
    finer = sorted(set(cut) | {middle})

    def totals(edges_us):
        shares = sp.split(curve, edges_us)
        return (sum(s.energy_wh for s in shares), sum(s.plugged_us for s in shares),
                sum(s.charging_us for s in shares))

    assert totals(finer) == totals(cut)


@EXAMPLES
@given(st.decimals(-10_000, 10_000, places=2), st.lists(st.integers(0, 10**9), min_size=1, max_size=50))
def test_money_shares_add_up_to_the_cent(amount, weights):
    shares = sp.share_money(amount, weights)
    assert sum(shares) == amount
    assert all(s == s.quantize(Decimal("0.01")) for s in shares)
    if sum(weights) and amount >= 0:
        assert all(s >= 0 for s in shares)


@EXAMPLES
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.floats(0, 50_000)), max_size=30),
       st.lists(st.integers(-10**5, 11 * 10**5), min_size=2, max_size=20, unique=True).map(sorted))
def test_peak_is_at_least_every_instants_sum(segments, cut):
    peaks = sp.peaks(segments, cut)
    for i in range(len(cut) - 1):
        for t in {cut[i]} | {a for a, b, _ in segments if cut[i] <= a < cut[i + 1]}:
            level = sum(w for a, b, w in segments if a <= t < b)
            assert peaks[i] >= level - 1e-6 * max(1.0, level)
