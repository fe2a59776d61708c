"""Chargers whose clocks are off or jump: the appliance gives them its time, keeps its receipt
times, flags the clock once per change, and sessions keep a sensible shape.

Judging uses the receipt times of real messages, so the windows (a clock behind must stay behind
for BEHIND_FOR; readings count for WINDOW) are shortened here instead of waiting minutes.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16 import call as call16

from appliance.core import charger_time as ct
from appliance.core import health
from appliance.core.clock_watch import KIND, ClockWatch
from appliance.core.events import ChargerReported
from tests.conftest import add_fleet, wait_for
from tests.virtual_charger import connect16

UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)


def wire(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("charger_at, received_at, trusted", [
    (T - 3 * MIN, T, T - 3 * MIN),  # a little late: as the charger says
    (T - 60 * 24 * MIN, T, T - 60 * 24 * MIN),  # a day old: a queued offline message, kept
    (T + 3 * MIN, T, T + 3 * MIN),  # ahead within the tolerance
    (T + 6 * MIN, T, T),  # from the future: the receipt time
    (dt.datetime(1970, 1, 1, 0, 10, tzinfo=UTC), T, T),  # a clock never set
])
def test_trusted_time(charger_at, received_at, trusted):
    assert ct.trusted_time(charger_at, received_at) == trusted


@pytest.mark.parametrize("started, stopped, received, expected", [
    (T, T + 30 * MIN, T + 31 * MIN, T + 30 * MIN),  # as the charger says
    (T, T - 10 * MIN, T + 31 * MIN, T + 31 * MIN),  # its clock jumped back: the receipt
    (T, dt.datetime(1970, 1, 1, tzinfo=UTC), T + 31 * MIN, T + 31 * MIN),  # to 1970
    (T, T - 10 * MIN, T - 20 * MIN, T),  # nothing after the start to go by: zero length, never negative
    (T, T + 400 * 24 * 60 * MIN, T + 31 * MIN, T + 31 * MIN),  # jumped a year ahead: the receipt
    (dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(1970, 1, 1, 0, 30, tzinfo=UTC), T,
     dt.datetime(1970, 1, 1, 0, 30, tzinfo=UTC)),  # wrong but steady: its 30 minutes are right
])
def test_a_session_never_ends_before_it_began(started, stopped, received, expected):
    assert ct.stop_time(started, stopped, received) == expected


@pytest.mark.parametrize("offsets_and_receipts, verdict", [
    ([(0, 0)], None),  # in step
    ([(4 * 60, 0)], None),  # within the tolerance
    ([(6 * 60, 0)], 6 * 60),  # ahead: at once
    ([(-3 * 86400, 0)], "undecided"),  # one old time: maybe a queue replayed
    ([(-3 * 86400, 0), (-3 * 86400, 200)], -3 * 86400),  # behind for longer than BEHIND_FOR
    ([(-3 * 86400, 0), (-600, 100), (0, 200)], None),  # a replayed queue, then live messages
])
def test_judge(offsets_and_receipts, verdict):
    readings = [(T + dt.timedelta(seconds=o + r), T + dt.timedelta(seconds=r)) for o, r in offsets_and_receipts]
    found = ct.judge(readings)
    if verdict == "undecided":
        assert found is None
    else:
        assert found.offset == (dt.timedelta(seconds=verdict) if verdict is not None else None)


SLICE = ct.WINDOW / ct.RecentReadings.SLICES
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
# A reading: (offset of the charger's clock, seconds of receipt after T).
readings_ = st.lists(st.tuples(st.integers(-4 * 86400, 4 * 86400), st.floats(0, 3 * 3600, allow_nan=False)),
                     min_size=1, max_size=300)


def pairs(readings) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(T + dt.timedelta(seconds=r + o), T + dt.timedelta(seconds=r)) for o, r in readings]


@given(readings_)
def test_the_kept_figures_judge_as_all_the_readings_within_the_window(readings):
    # All received within the window less a slice: nothing is let go, and the figures say the same.
    latest = max(r for _, r in readings)
    within = [(o, r) for o, r in readings if r >= latest - (ct.WINDOW - SLICE).total_seconds()]
    recent = ct.RecentReadings()
    for charger_at, received_at in pairs(within):
        recent.add(charger_at, received_at)
    assert recent.verdict() == ct.judge(pairs(within))


@given(readings_)
def test_the_verdict_is_that_of_the_readings_in_the_slices_the_window_still_touches(readings):
    recent = ct.RecentReadings()
    for charger_at, received_at in pairs(readings):
        recent.add(charger_at, received_at)
    newest = T + dt.timedelta(seconds=max(r for _, r in readings))
    by_slice: dict[int, list] = {}
    for charger_at, received_at in pairs(readings):
        by_slice.setdefault((received_at - EPOCH) // SLICE, []).append((charger_at, received_at))
    kept = [reading for in_slice in by_slice.values() if max(r for _, r in in_slice) >= newest - ct.WINDOW
            for reading in in_slice]
    assert recent.verdict() == ct.judge(kept)


def test_a_clock_that_was_ahead_counts_only_for_the_window():
    recent = ct.RecentReadings()
    recent.add(T + 10 * MIN, T)  # ten minutes ahead, then set right
    for minute in range(1, 40):
        recent.add(T + minute * MIN, T + minute * MIN)
        in_step = recent.verdict().offset is None
        if minute * MIN <= ct.WINDOW:
            assert not in_step, minute
        elif minute * MIN > ct.WINDOW + SLICE:
            assert in_step, minute


@pytest.mark.parametrize("seconds, text", [
    (40, "40 s"), (12 * 60, "12 min"), (7 * 3600 + 5, "7 h"), (86400, "1 day"), (5 * 86400, "5 days"),
    ((3 * 365 + 12) * 86400, "3 years 12 days"), (365 * 86400 + 60, "1 year"),
])
def test_describe(seconds, text):
    assert ct.describe(dt.timedelta(seconds=seconds)) == text


async def test_a_charger_clock_years_behind_is_told_the_time_and_flagged_once_per_change(appliance, monkeypatch):
    monkeypatch.setattr(ct, "BEHIND_FOR", dt.timedelta(seconds=0.3))
    monkeypatch.setattr(ct, "WINDOW", dt.timedelta(seconds=0.6))
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    watch = ClockWatch(core.db, core.bus)
    await watch.check()  # from here on it reads what arrives
    seen: list = []
    core.bus.subscribe(ChargerReported, lambda event: seen.append(event) if event.kind == KIND else None)
    async with connect16(appliance.url, "CP1", boot=False) as cp:
        box_time = dt.datetime.fromisoformat((await cp.boot()).current_time.replace("Z", "+00:00"))
        assert abs(box_time - dt.datetime.now(UTC)) < ct.SKEW_LIMIT  # the appliance's time, to set its clock by
        heartbeat = (await cp.call(call16.Heartbeat())).current_time
        assert abs(dt.datetime.fromisoformat(heartbeat.replace("Z", "+00:00")) - dt.datetime.now(UTC)) < ct.SKEW_LIMIT

        skew = dt.timedelta(days=3 * 365 + 12)

        async def status(status: str, offset: dt.timedelta) -> None:
            await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status=status,
                                                    timestamp=wire(dt.datetime.now(UTC) - offset)))

        await status("Available", skew)
        assert await watch.check() == []  # one old time: perhaps a queue replayed; not yet
        await asyncio.sleep(0.35)
        await status("Preparing", skew)
        assert await watch.check() == [("CP1", "clock 3 years 12 days behind the appliance's")]
        await status("Charging", skew)
        assert await watch.check() == []  # the same news is not told twice
        assert watch.skewed == {"CP1": "clock 3 years 12 days behind the appliance's"}
        report = await health.check(core.db, watch.skewed)
        assert report.status == "ok" and report.warnings == ("charger CP1: clock 3 years 12 days behind the "
                                                             "appliance's",)
        # It takes the time it was given: in step again once the old readings are out of the window.
        await asyncio.sleep(0.65)
        await status("SuspendedEV", dt.timedelta(0))
        assert await watch.check() == [("CP1", "clock in step with the appliance's again")]
        assert watch.skewed == {}
    reports = await core.reports.list("CP1", KIND)
    assert [(r.summary, r.payload["offset_s"] is None) for r in reversed(reports)] == [
        ("clock 3 years 12 days behind the appliance's", False), ("clock in step with the appliance's again", True)]
    await wait_for(lambda: len(seen) == 2)
    # What it reported is kept with its own times beside the receipt times.
    history = await core.db.read(lambda: core.db.peewee.execute_sql(
        "SELECT reported_at, received_at FROM status_history ORDER BY id").fetchall())
    assert len(history) == 4 and all(str(reported).startswith("2023") for reported, _ in history[:3])


async def test_a_station_clock_ahead_is_flagged_at_once_and_a_restart_does_not_repeat_it(appliance):
    from tests.virtual_charger201 import connect201

    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CS1", "ocpp2.0.1")
    watch = ClockWatch(core.db, core.bus)
    await watch.check()
    async with connect201(appliance.url, "CS1") as station:
        await station.status(1, 1, "Available", timestamp=wire(dt.datetime.now(UTC) + dt.timedelta(hours=7)))
        assert await watch.check() == [("CS1", "clock 7 h ahead of the appliance's")]
        restarted = ClockWatch(core.db, core.bus)  # the appliance restarted: it reads the last report
        await restarted.check()
        await station.status(1, 1, "Occupied", timestamp=wire(dt.datetime.now(UTC) + dt.timedelta(hours=7)))
        assert await restarted.check() == [] and restarted.skewed == {"CS1": "clock 7 h ahead of the appliance's"}
