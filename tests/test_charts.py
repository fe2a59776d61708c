"""The server-drawn SVG charts: round ticks, a time axis in the depot's zone (DST days included),
gaps left open, every point inside the plot, escaped text, and well-formed XML whatever the data."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import xml.etree.ElementTree as ET
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.web.charts import (
    Series,
    line_chart,
    nice_ticks,
    split_at_gaps,
    thin,
    tick_label,
    time_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def local(year, month, day, hour=0, minute=0, zone=BERLIN) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = root.find(f"{SVG}rect[@class='plot-area']")
    x, y = float(rect.get("x")), float(rect.get("y"))
    return x, y, x + float(rect.get("width")), y + float(rect.get("height"))


def drawn_points(root: ET.Element) -> list[tuple[float, float]]:
    """Every coordinate of every line, area and dot of the series."""
    points = []
    for path in root.iter(f"{SVG}path"):
        points += [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", path.get("d"))]
    points += [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]
    return points


def lines_of(root: ET.Element, series_class: str) -> list[list[tuple[float, float]]]:
    group = next(g for g in root.iter(f"{SVG}g") if series_class in (g.get("class") or "").split())
    return [[(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", p.get("d"))]
            for p in group.iter(f"{SVG}path") if p.get("class") == "line"]


# -- ticks ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("low, high, expected", [
    (0, 7.2, [0, 2, 4, 6, 8]),
    (0, 10, [0, 2, 4, 6, 8, 10]),
    (0, 100, [0, 20, 40, 60, 80, 100]),
    (0, 11.5, [0, 2.5, 5, 7.5, 10, 12.5]),  # 2.5 steps keep the count down
    (-3, 11, [-5, 0, 5, 10, 15]),
    (0, 0.3, [0, 0.1, 0.2, 0.3]),
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),
    (5, 5, [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]),  # a flat line gets an axis around it
    (7, 2, [2, 3, 4, 5, 6, 7]),  # given the wrong way round
])
def test_nice_ticks(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)


@pytest.mark.parametrize("value, ticks, label", [
    (0.30000000000000004, [0, 0.1], "0.3"),  # float noise never shows
    (7.5, [0, 2.5], "7.5"),
    (20.0, [0, 10], "20"),
    (-0.0, [0, 0.5], "0.0"),  # never "-0"
    (1500.0, [0, 500], "1500"),
])
def test_tick_label(value, ticks, label):
    assert tick_label(value, ticks) == label


@pytest.mark.parametrize("start, end, zone, max_ticks, labels", [
    # Ten minutes of a winter morning in Berlin (UTC+1): every two minutes.
    (at(0), at(10), BERLIN, 5, ["11:00", "11:02", "11:04", "11:06", "11:08", "11:10"]),
    # Spring forward: 02:00 never happens; counted in real time the hours run 01:00, 03:00.
    (local(2026, 3, 29, 0), local(2026, 3, 29, 5), BERLIN, 4, ["00:00", "01:00", "03:00", "04:00", "05:00"]),
    # Fall back: 02:00 happens twice, and so does its tick.
    (local(2026, 10, 25, 0), local(2026, 10, 25, 4), BERLIN, 5, ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"]),
    # A day and a bit, on the wall clock every six hours, over a DST change.
    (local(2026, 10, 24, 12), local(2026, 10, 25, 18), BERLIN, 6, ["12:00", "18:00", "00:00", "06:00", "12:00", "18:00"]),
    # Half-hour offset: ticks on the local hour, not the UTC one.
    (dt.datetime(2026, 1, 1, 4, 0, tzinfo=UTC), dt.datetime(2026, 1, 1, 9, 0, tzinfo=UTC), KOLKATA, 5,
     ["10:00", "11:00", "12:00", "13:00", "14:00"]),
    # Seconds for a short span.
    (at(0), at(0.5), UTC, 6, ["10:00:00", "10:00:05", "10:00:10", "10:00:15", "10:00:20", "10:00:25", "10:00:30"]),
])
def test_time_ticks_are_round_local_times(start, end, zone, max_ticks, labels):
    ticks = time_ticks(start, end, zone, max_ticks)
    assert [t.label for t in ticks] == labels
    assert all(t.label == t.at.astimezone(zone).strftime("%H:%M:%S" if t.label.count(":") == 2 else "%H:%M")
               for t in ticks)


def test_time_ticks_carry_the_date_first_and_where_it_changes():
    ticks = time_ticks(local(2026, 10, 24, 12), local(2026, 10, 25, 18), BERLIN, max_ticks=6)
    assert [t.date for t in ticks] == ["2026-10-24", "", "2026-10-25", "", "", ""]


def test_time_ticks_over_weeks_are_days():
    ticks = time_ticks(local(2026, 10, 1), local(2026, 11, 5), BERLIN, max_ticks=6)
    assert [t.label for t in ticks] == ["01 Oct", "08 Oct", "15 Oct", "22 Oct", "29 Oct", "05 Nov"]
    assert all(t.at.astimezone(BERLIN).hour == 0 for t in ticks)  # local midnight, CEST or CET


# -- gaps and thinning --------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes, runs", [
    ([0, 1, 2, 3], [[0, 1, 2, 3]]),
    ([0, 1, 2, 20, 21, 22], [[0, 1, 2], [20, 21, 22]]),  # 18 min without a sample: two lines
    ([0, 1, 2, 4, 5], [[0, 1, 2, 4, 5]]),  # one late sample is no gap
    ([0], [[0]]),
    ([], []),
    ([0, 0, 0], [[0, 0, 0]]),  # one instant: no interval to judge by
])
def test_split_at_gaps(minutes, runs):
    points = [(at(m), 1.0) for m in minutes]
    assert [[int((p[0] - T0).total_seconds() // 60) for p in run] for run in split_at_gaps(points)] == runs


def test_thin_keeps_the_ends_and_about_the_budget():
    points = [(at(m), float(m)) for m in range(1000)]
    kept = thin(points, 100)
    assert kept[0] == points[0] and kept[-1] == points[-1] and len(kept) <= 101
    assert thin(points[:50], 100) == points[:50]


# -- the chart ------------------------------------------------------------------------------------------

def test_no_points_says_so_with_a_title():
    root = parse(line_chart([Series("Energy", "kWh", [])], BERLIN, title="Session 7"))
    assert root.find(f"{SVG}title").text == "Session 7" and root.get("aria-label") == "Session 7"
    assert root.get("role") == "img"
    assert any(t.text == "no meter values yet" for t in root.iter(f"{SVG}text"))
    assert not list(root.iter(f"{SVG}path"))


def test_a_single_point_is_a_dot_inside_the_plot():
    root = parse(line_chart([Series("Power", "kW", [(at(0), 7.2)])], BERLIN))
    (dot,) = root.iter(f"{SVG}circle")
    left, top, right, bottom = plot_area(root)
    assert left < float(dot.get("cx")) < right and top <= float(dot.get("cy")) <= bottom


def test_a_gap_leaves_the_line_open_and_both_axes_carry_units():
    energy = [(at(m), m / 10) for m in (0, 1, 2, 3, 30, 31, 32)]
    power = [(at(m), 7.2) for m in range(33)]
    root = parse(line_chart([Series("Power", "kW", power, css_class="power"),
                             Series("Energy", "kWh", energy, axis="right", css_class="energy", area=True)], BERLIN))
    assert len(lines_of(root, "energy")) == 2 and len(lines_of(root, "power")) == 1
    labels = {t.text for t in root.iter(f"{SVG}text")}
    assert {"kW", "kWh", "Power (kW)", "Energy (kWh)"} <= labels
    assert "11:00" in labels  # 10:00 UTC in Berlin


def test_every_text_is_escaped():
    svg = line_chart([Series('<b>"x" & y</b>\x00', "k<W>", [(at(0), 1.0), (at(1), 2.0)])], BERLIN,
                     title="A & <B>", x_label="time ']]>")
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "A & <B>"
    assert '<b>"x" & y</b> (k<W>)' in {t.text for t in root.iter(f"{SVG}text")}
    assert "<b>" not in svg


def test_the_time_range_given_is_shown_even_before_any_value():
    start = at(0)
    root = parse(line_chart([Series("Energy", "kWh", [])], UTC, x_range=(start, at(60))))
    assert any(t.text == "no meter values yet" for t in root.iter(f"{SVG}text"))
    assert "10:00" in {t.text for t in root.iter(f"{SVG}text")}


def test_many_points_are_thinned():
    points = [(at(m / 60), m / 1000) for m in range(20_000)]  # a sample a second for 5.5 hours
    svg = line_chart([Series("Energy", "kWh", points)], UTC, max_points=500)
    assert len(drawn_points(parse(svg))) <= 510 and len(svg) < 40_000


# -- properties -----------------------------------------------------------------------------------------

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(UTC))
any_value = st.one_of(finite, st.just(float("nan")), st.just(float("inf")), st.floats(min_value=-1e300, max_value=1e300))
series = st.builds(Series, name=st.text(max_size=30), unit=st.text(max_size=5),
                   points=st.lists(st.tuples(times, any_value), max_size=40),
                   axis=st.sampled_from(["left", "right"]), css_class=st.text(max_size=10), area=st.booleans())


@given(finite, finite, st.integers(min_value=2, max_value=12))
def test_ticks_cover_the_data_range(low, high, max_ticks):
    ticks = nice_ticks(low, high, max_ticks)
    assert ticks[0] <= min(low, high) and ticks[-1] >= max(low, high)
    assert all(a < b for a, b in itertools.pairwise(ticks)) and 2 <= len(ticks) <= max_ticks + 2


@settings(max_examples=150, deadline=None)
@given(st.lists(series, max_size=3), st.text(max_size=40))
def test_any_series_make_valid_xml_with_every_point_inside_the_plot(many, title):
    root = parse(line_chart(many, BERLIN, title=title))
    left, top, right, bottom = plot_area(root)
    for x, y in drawn_points(root):
        assert left <= x <= right and top <= y <= bottom


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=3600), st.floats(min_value=0, max_value=5000)),
                min_size=2, max_size=60))
def test_energy_that_only_rises_is_drawn_only_rising(steps):
    points, when, energy = [], T0, 0.0
    for seconds, added in steps:
        when, energy = when + dt.timedelta(seconds=seconds), energy + added
        points.append((when, energy))
    root = parse(line_chart([Series("Energy", "kWh", points, css_class="energy", area=True)], UTC,
                            gap_factor=1e9))
    (line,) = lines_of(root, "energy")
    assert all(x1 <= x2 and y1 >= y2 for (x1, y1), (x2, y2) in itertools.pairwise(line))  # SVG y grows downwards


@settings(max_examples=200, deadline=None)
@given(times, st.integers(min_value=1, max_value=400 * 86400), st.sampled_from([BERLIN, KOLKATA, UTC]))
def test_time_ticks_label_their_own_local_time(start, span_s, zone):
    end = start + dt.timedelta(seconds=span_s)
    ticks = time_ticks(start, end, zone, max_ticks=6)
    assert all(start <= t.at <= end for t in ticks)
    assert all(a.at < b.at for a, b in itertools.pairwise(ticks)) and len(ticks) <= 8
    for t in ticks:
        local_time = t.at.astimezone(zone)
        assert t.label in (local_time.strftime("%H:%M:%S"), local_time.strftime("%H:%M"),
                           local_time.strftime("%d %b"))


def test_a_berlin_dst_day_chart_labels_every_hour_as_the_clock_showed_it():
    start, end = local(2026, 3, 29, 0), local(2026, 3, 29, 6)
    points = [(start + dt.timedelta(minutes=m), m / 60) for m in range(0, 301, 5)]
    root = parse(line_chart([Series("Energy", "kWh", points)], BERLIN, x_range=(start, end)))
    axis = next(g for g in root.iter(f"{SVG}g") if "x-axis" in (g.get("class") or ""))
    labels = [t.text for t in axis.iter(f"{SVG}text") if t.get("data-at")]
    assert "02:00" not in labels and {"01:00", "03:00"} <= set(labels)
    for label in axis.iter(f"{SVG}text"):
        if label.get("data-at"):
            assert dt.datetime.fromisoformat(label.get("data-at")).astimezone(BERLIN).strftime("%H:%M") == label.text
