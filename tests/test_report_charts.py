"""The reports' bar chart: a bar per bucket from the zero line, the comparison as outlined bars over them,
gaps where there is nothing to compare, escaped names, and well-formed XML whatever the values; and the
report CSV's guard against spreadsheet formulas."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.analytics.export import as_csv
from appliance.web.charts import Bars, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def bars_of(svg: str, overlay: bool) -> list[ET.Element]:
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(SVG + "g") if "series" in g.get("class", "")
              and ("overlay" in g.get("class", "")) == overlay]
    return [r for g in groups for r in g.iter(SVG + "rect")]


def test_a_bar_per_bucket_and_the_comparison_outlined_over_them():
    svg = bar_chart(["2026-03-01", "2026-03-02", "2026-03-03"],
                    [Bars("March", "kWh", [10.0, 0.0, 30.0]),
                     Bars("February", "kWh", [20.0, 5.0, None], color="#b3261e", overlay=True)])
    own, other = bars_of(svg, False), bars_of(svg, True)
    assert len(own) == 3 and len(other) == 2  # nothing to compare the third day with
    heights = [float(r.get("height")) for r in own]
    assert heights[1] == 0 and heights[2] == 3 * heights[0]
    assert all(r.get("fill") == "none" and r.get("stroke-dasharray") for r in other)
    assert "March (kWh)" in svg and "February (kWh)" in svg
    assert own[0].find(SVG + "title").text == "2026-03-01: 10 kWh"


def test_nothing_to_show_says_so():
    svg = bar_chart(["a"], [Bars("x", "kWh", [None])], empty_text="nothing in this period")
    assert "nothing in this period" in svg and not bars_of(svg, False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9)), min_size=1, max_size=60),
       st.text(max_size=30))
def test_well_formed_whatever_the_values_and_names(values, name):
    svg = bar_chart([f"<{i}&>" for i in range(len(values))], [Bars(name, "€", values),
                                                              Bars(name, "€", values[::-1], overlay=True)])
    root = ET.fromstring(svg)
    for rect in root.iter(SVG + "rect"):
        assert float(rect.get("height", 0)) >= 0


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_numbers_are_not():
    text = as_csv(["key", "value"], [["=HYPERLINK(1)", "-3.50"], ["+49 taxi", "12"], ["@x", "-"]])
    assert text.splitlines() == ["key,value", "'=HYPERLINK(1),-3.50", "'+49 taxi,12", "'@x,'-"]
