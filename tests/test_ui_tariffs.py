"""The tariff pages over HTML: a tariff added with the simple form (and as JSON) is the tariff the
billing core prices with; bad prices are named at their field and change nothing; tariff groups, their
rules and the chargers they price; statements as downloads."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.conftest import add_fleet
from tests.ui_client import staff_client, text_of


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<small class="error" id="e-(?:f-)?{field}">([^<]*)</small>', html)
    return found.group(1) if found else ""


async def definition(appliance, name: str) -> dict:
    return (await appliance.core.billing.tariff(name)).definition


async def test_simple_form_makes_the_tariff_billing_prices_with(appliance, staff):
    status, html = await staff.post("/tariffs", {
        "mode": "simple", "name": "Standard", "currency": "eur", "vat_percent": "19", "flat_fee": "1,50",
        "price_per_kwh": "0.355", "price_per_minute": "0.05", "max_minutes": "240"})
    assert status == 200 and "Tariff Standard added." in text_of(html)
    words = text_of(html)
    assert "Connection fee 1.50 EUR per session" in words
    assert "Energy and time 0.355 EUR per kWh; 0.05 EUR per minute (3.00 EUR per hour) plugged in" in words
    assert "prices include 19 % VAT" in words and "stopped after 4 h 00 min" in words
    [record] = await appliance.core.billing.tariffs()
    assert (record.name, record.kind, record.currency) == ("Standard", "duration_energy", "EUR")
    data = record.definition
    assert (Decimal(data["price_per_kwh"]), Decimal(data["connection_fee"]), Decimal(data["vat_rate"])) == (
        Decimal("0.355"), Decimal("1.50"), Decimal("0.19"))
    assert data["max_duration_s"] == 240 * 60

    status, html = await staff.post("/tariffs", {"mode": "simple", "name": "Night", "currency": "EUR",
                                                 "vat_percent": "19", "price_per_kwh": "0.40",
                                                 "night_from": "22:00", "night_until": "06:00",
                                                 "night_price_per_kwh": "0.25"})
    assert status == 200 and "22:00–06:00 (night) 0.25 EUR per kWh" in text_of(html)
    bands = (await definition(appliance, "Night"))["bands"]
    assert [(b["name"], b["start"], b["end"], b["price_per_kwh"]) for b in bands] == [
        ("day", "06:00", "22:00", "0.40"), ("night", "22:00", "06:00", "0.25")]

    status, html = await staff.post("/tariffs", {"mode": "simple", "name": "Flat", "currency": "EUR",
                                                 "vat_percent": "7", "flat_fee": "5"})
    assert (await appliance.core.billing.tariff("Flat")).kind == "flat"
    status, html = await staff.get("/tariffs")
    words = text_of(html)
    assert "Standard energy and time" in words and "Night by time of day" in words and "Flat flat fee" in words


async def test_bad_prices_are_named_at_their_field_and_nothing_is_added(appliance, staff):
    good = {"mode": "simple", "name": "T", "currency": "EUR", "vat_percent": "19", "price_per_kwh": "0.30"}
    cases = [({"price_per_kwh": "cheap"}, "price_per_kwh", "Price per kWh: &#39;cheap&#39; is not a number"),
             ({"price_per_minute": "-0.1"}, "price_per_minute", "Price per minute: at least 0"),
             ({"vat_percent": "120"}, "vat_percent", "VAT (%): at most 100"),
             ({"currency": "EU"}, "currency", "Tariff &#39;T&#39;: currency &#39;EU&#39; is not an ISO 4217 code"),
             ({"night_from": "22:00"}, "night_until", "Night until: please fill this in"),
             ({"night_from": "22:00", "night_until": "22:00"}, "night_until", "Night until: the night must end"),
             ({"name": ""}, "name", "Name: please fill this in")]
    for change, field, message in cases:
        status, html = await staff.post("/tariffs", {**good, **change})
        assert status == 400, change
        assert field_error(html, field).startswith(message), (change, field_error(html, field))
        typed = change.get("price_per_kwh", "0.30")
        assert f'value="{typed}"' in html  # what was typed stays in the form
    assert await appliance.core.billing.tariffs() == []
    await staff.post("/tariffs", good)
    status, html = await staff.post("/tariffs", good)
    assert status == 400 and field_error(html, "name") == "Tariff &#39;T&#39; already exists"


async def test_json_form_takes_what_the_api_takes(appliance, staff):
    power = ('{"kind": "power_levels", "currency": "EUR", "vat_rate": "0.19", "power_bands": ['
             '{"max_power_kw": "11", "price_per_minute": "0.10"}, {"max_power_kw": "22", "price_per_minute": "0.20"}]}')
    status, html = await staff.post("/tariffs", {"mode": "json", "json_name": "Power", "definition": power})
    assert status == 200 and "Tariff Power added." in text_of(html)
    assert "Average power up to 22 kW and above 0.20 EUR per minute" in text_of(html)
    assert "change it as JSON" in text_of(html)  # the simple form cannot show power levels
    status, html = await staff.post("/tariffs", {"mode": "json", "json_name": "Bad", "definition": "{kind: flat"})
    assert status == 400 and field_error(html, "definition").startswith("Tariff as JSON: not valid JSON")
    status, html = await staff.post("/tariffs", {"mode": "json", "json_name": "Bad",
                                                 "definition": '{"kind": "flat", "flat_price": "x"}'})
    assert status == 400 and field_error(html, "definition") == "Flat_price must be a number, not &#39;x&#39;"
    assert [t.name for t in await appliance.core.billing.tariffs()] == ["Power"]


async def test_edit_a_tariff_with_the_simple_form(appliance, staff):
    await appliance.core.billing.add_tariff("Std", {"kind": "duration_energy", "currency": "EUR",
                                                    "vat_rate": "0.19", "price_per_kwh": "0.30"})
    status, html = await staff.get("/tariffs/Std")
    assert status == 200 and 'value="0.3"' in html  # the simple form shows the tariff as it is
    status, html = await staff.post("/tariffs/Std/edit", {"mode": "simple", "currency": "EUR", "vat_percent": "19",
                                                          "price_per_kwh": "0.32"})
    assert status == 200 and "Tariff Std changed" in text_of(html)
    assert (await definition(appliance, "Std"))["price_per_kwh"] == "0.32"
    status, html = await staff.post("/tariffs/Std/edit", {"mode": "simple", "currency": "EUR", "vat_percent": "x"})
    assert status == 400 and field_error(html, "vat_percent") == "VAT (%): &#39;x&#39; is not a number"
    assert (await definition(appliance, "Std"))["price_per_kwh"] == "0.32"
    status, html = await staff.get("/tariffs/Nope")
    assert status == 404 and "no tariff" in text_of(html).lower()


async def test_groups_rules_and_chargers(appliance, staff):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    for name, price in (("Std", "0.40"), ("Fleet", "0.25")):
        await appliance.core.billing.add_tariff(name, {"kind": "duration_energy", "currency": "EUR",
                                                       "vat_rate": "0.19", "price_per_kwh": price})
    status, html = await staff.post("/tariffs/groups", {"group_name": "Depot", "group_base": "Std"})
    assert status == 200 and "Tariff group Depot added with base tariff Std." in text_of(html)
    status, html = await staff.post("/tariffs/groups", {"group_name": "Other", "group_base": "Nope"})
    assert status == 400 and field_error(html, "group_base") == "No tariff &#39;Nope&#39;"

    status, html = await staff.post("/tariffs/group-rule", {"rule_group": "Depot", "rule_for": "company",
                                                            "rule_name": "Blue Taxi", "rule_tariff": "Fleet"})
    assert status == 200 and "company Blue Taxi now pays tariff Fleet" in text_of(html)
    status, html = await staff.post("/tariffs/group-rule", {"rule_group": "Depot", "rule_for": "company",
                                                            "rule_name": "Red Cabs", "rule_tariff": "Fleet"})
    assert status == 400 and field_error(html, "rule_name") == "No company &#39;Red Cabs&#39;"

    status, html = await staff.post("/tariffs/group-assign", {"assign_group": "Depot", "assign_charger": "CP1"})
    assert status == 200 and "Sessions on every EVSE of CP1" in text_of(html)
    status, html = await staff.post("/tariffs/group-assign", {"assign_group": "Depot", "assign_charger": "CP9"})
    assert status == 400 and field_error(html, "assign_charger") == "No charger &#39;CP9&#39;"

    [group] = await appliance.core.billing.groups()
    assert (group.name, group.base_tariff, group.rules) == ("Depot", "Std", ((1, "Fleet", "company", "Blue Taxi"),))
    status, html = await staff.get("/tariffs")
    groups = html[html.index('id="groups"'):]
    assert 'href="/chargers/CP1"' in groups and 'href="/companies/Blue%20Taxi"' in groups
    status, html = await staff.get("/tariffs/Fleet")
    assert "tariff group Depot : company Blue Taxi" in text_of(html)


async def test_statements_download_and_bad_month(appliance, staff):
    await add_fleet(appliance.core)
    status, html = await staff.get("/statements")
    assert status == 200 and "Download statement" in html
    async with staff.http.get(staff.url + "/statements?month=2024-05&company=Blue+Taxi&format=csv") as response:
        assert response.status == 200 and response.content_type == "text/csv"
        assert "statement-2024-05-Blue_Taxi.csv" in response.headers["Content-Disposition"]
        assert "Blue Taxi" in await response.text()
    async with staff.http.get(staff.url + "/statements?month=2024-05&format=pdf") as response:
        assert response.status == 200 and response.content_type == "application/pdf"
        assert (await response.read()).startswith(b"%PDF")
    status, html = await staff.get("/statements?month=May&format=csv")
    assert status == 400 and field_error(html, "month") == "A month is given as YYYY-MM, not &#39;May&#39;"


async def test_a_viewer_reads_tariffs_but_cannot_change_them(appliance, staff):
    await appliance.core.billing.add_tariff("Std", {"kind": "flat", "currency": "EUR", "vat_rate": "0.19",
                                                    "flat_price": "3"})
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/tariffs")
        assert status == 200 and "Std" in html and "Add a tariff" not in html and "Add group" not in html
        status, html = await viewer.get("/tariffs/Std")
        assert status == 200 and "Per session 3.00 EUR" in text_of(html) and "Save tariff" not in html
        status, html = await viewer.post("/tariffs", {"mode": "simple", "name": "X", "currency": "EUR",
                                                      "vat_percent": "19"})
        assert status == 403
        assert [t.name for t in await appliance.core.billing.tariffs()] == ["Std"]
    finally:
        await viewer.close()
