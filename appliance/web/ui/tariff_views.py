"""Tariffs in words for the tariffs pages, and the simple tariff form as the tariff data the billing
core takes (see appliance/billing/tariff_json.py for that shape: Decimals as text, times HH:MM).

The simple form covers the common tariffs: a fee per session, a price per kWh and per minute of
plugged-in time, optionally other prices at night; anything else is written as JSON.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from appliance.web.ui.render import FormError, text_field

KIND_WORDS = {"free": "free", "flat": "flat fee per session", "duration_energy": "energy and time",
              "time_of_day": "by time of day", "power_levels": "by charging power"}
SIMPLE_PRICES = ("flat_fee", "price_per_kwh", "price_per_minute")
NIGHT_FIELDS = ("night_price_per_kwh", "night_price_per_minute", "night_from", "night_until")


def price_text(value: Any, currency: str) -> str:
    """A price as given, to at least the cent: 0.355 stays 0.355, 0.3 shows as 0.30."""
    number = Decimal(str(value)).normalize()
    if number.as_tuple().exponent > -2:
        number = number.quantize(Decimal("0.01"))
    return f"{number:f} {currency}"


def percent_text(rate: Any) -> str:
    return f"{(Decimal(str(rate)) * 100).normalize():f} %"


def describe(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """The tariff's elements as (what, price) lines a person reads."""
    kind, currency = definition.get("kind", ""), definition.get("currency", "")

    def money(key: str, source: dict[str, Any] | None = None) -> str:
        return price_text((source or definition).get(key) or "0", currency)

    lines: list[tuple[str, str]] = []
    if kind == "free":
        lines.append(("Sessions", "free of charge"))
    if kind == "flat":
        lines.append(("Per session", money("flat_price")))
    if kind in ("duration_energy", "time_of_day", "power_levels") and _nonzero(definition.get("connection_fee")):
        lines.append(("Connection fee", f"{money('connection_fee')} per session"))
    if kind == "duration_energy":
        lines.append(("Energy and time", _energy_and_time(definition, currency)))
    for band in (definition.get("bands") or []) if kind == "time_of_day" else []:
        name = f" ({band['name']})" if band.get("name") else ""
        lines.append((f"{band['start']}–{band['end']}{name}", _energy_and_time(band, currency)))
    power_bands = (definition.get("power_bands") or []) if kind == "power_levels" else []
    for i, band in enumerate(power_bands):
        upto = f"up to {Decimal(str(band['max_power_kw'])).normalize():f} kW"
        if i == len(power_bands) - 1:
            upto += " and above"
        lines.append((f"Average power {upto}", _per_minute(band["price_per_minute"], currency)))
    lines.append(("VAT", f"prices include {percent_text(definition.get('vat_rate', '0'))} VAT"))
    if definition.get("max_duration_s"):
        lines.append(("Longest session", f"stopped after {_hours(definition['max_duration_s'])}"))
    if definition.get("max_energy_wh"):
        lines.append(("Most energy", f"stopped after {Decimal(definition['max_energy_wh']) / 1000:f} kWh"))
    return lines


def summary(definition: dict[str, Any]) -> str:
    """One line for the list: the prices, without the VAT line every tariff has."""
    return "; ".join(f"{what}: {price}" for what, price in describe(definition) if what != "VAT")


def _energy_and_time(prices: dict[str, Any], currency: str) -> str:
    """"0.35 EUR per kWh; 0.05 EUR per minute (…)", leaving out a price that is 0."""
    parts = []
    if _nonzero(prices.get("price_per_kwh")):
        parts.append(f"{price_text(prices['price_per_kwh'], currency)} per kWh")
    if _nonzero(prices.get("price_per_minute")):
        parts.append(f"{_per_minute(prices['price_per_minute'], currency)} plugged in")
    return "; ".join(parts) or "free (fees apart)"


def _per_minute(value: Any, currency: str) -> str:
    per_minute = Decimal(str(value))
    per_hour = (per_minute * 60).normalize()
    text = f"{price_text(per_minute, currency)} per minute"
    return text + (f" ({price_text(per_hour, currency)} per hour)" if per_minute else "")


def _hours(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def _nonzero(value: Any) -> bool:
    return value is not None and Decimal(str(value)) != 0


# -- the simple form ------------------------------------------------------------------------------

def decimal_field(form, name: str, label: str, required: bool = False, minimum: Decimal | None = Decimal(0),
                  maximum: Decimal | None = None) -> Decimal | None:
    """A money-like field as an exact Decimal (a comma is taken as the decimal point)."""
    raw = str(form.get(name, "")).strip().replace(",", ".")
    if not raw:
        if required:
            raise FormError(f"{label}: please fill this in", name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError(f"{label}: {raw!r} is not a number", name) from None
    if not value.is_finite():
        raise FormError(f"{label}: {raw!r} is not a number", name)
    if minimum is not None and value < minimum:
        raise FormError(f"{label}: at least {minimum}", name)
    if maximum is not None and value > maximum:
        raise FormError(f"{label}: at most {maximum}", name)
    return value


def _time_field(form, name: str, label: str) -> str:
    raw = text_field(form, name, label, max_length=8)
    try:
        return dt.time.fromisoformat(raw).strftime("%H:%M")
    except ValueError:
        raise FormError(f"{label}: {raw!r} is not a time of day HH:MM", name) from None


def simple_tariff(form) -> dict[str, Any]:
    """The tariff data for the simple form's fields; FormError names the field that is wrong."""
    currency = text_field(form, "currency", "Currency", max_length=3).upper()
    vat = decimal_field(form, "vat_percent", "VAT (%)", required=True, maximum=Decimal(100))
    fee = decimal_field(form, "flat_fee", "Fee per session") or Decimal(0)
    per_kwh = decimal_field(form, "price_per_kwh", "Price per kWh") or Decimal(0)
    per_minute = decimal_field(form, "price_per_minute", "Price per minute") or Decimal(0)
    data: dict[str, Any] = {"currency": currency, "vat_rate": str(vat / 100)}
    if any(str(form.get(f, "")).strip() for f in NIGHT_FIELDS):
        data.update(kind="time_of_day", connection_fee=str(fee), bands=_night_bands(form, per_kwh, per_minute))
    elif per_kwh or per_minute:
        data.update(kind="duration_energy", connection_fee=str(fee), price_per_kwh=str(per_kwh),
                    price_per_minute=str(per_minute))
    elif fee:
        data.update(kind="flat", flat_price=str(fee))
    else:
        data.update(kind="free")
    max_minutes = decimal_field(form, "max_minutes", "Longest session (minutes)", minimum=Decimal(1))
    max_kwh = decimal_field(form, "max_kwh", "Most energy per session (kWh)", minimum=Decimal("0.001"))
    data["max_duration_s"] = int(max_minutes * 60) if max_minutes else None
    data["max_energy_wh"] = int(max_kwh * 1000) if max_kwh else None
    return data


def _night_bands(form, per_kwh: Decimal, per_minute: Decimal) -> list[dict[str, str]]:
    night_kwh = decimal_field(form, "night_price_per_kwh", "Night price per kWh") or Decimal(0)
    night_minute = decimal_field(form, "night_price_per_minute", "Night price per minute") or Decimal(0)
    start = _time_field(form, "night_from", "Night from")
    end = _time_field(form, "night_until", "Night until")
    if start == end:
        raise FormError("Night until: the night must end at another time than it starts", "night_until")
    return [{"start": end, "end": start, "name": "day", "price_per_kwh": str(per_kwh),
             "price_per_minute": str(per_minute)},
            {"start": start, "end": end, "name": "night", "price_per_kwh": str(night_kwh),
             "price_per_minute": str(night_minute)}]


def simple_values(definition: dict[str, Any]) -> dict[str, str] | None:
    """The simple form's fields for a tariff, or None when the simple form cannot show it."""
    kind = definition.get("kind")
    values = {"currency": definition.get("currency", "EUR"),
              "vat_percent": f"{(Decimal(str(definition.get('vat_rate', '0'))) * 100).normalize():f}",
              "max_minutes": str(definition["max_duration_s"] // 60) if definition.get("max_duration_s") else "",
              "max_kwh": f"{Decimal(definition['max_energy_wh']) / 1000:f}" if definition.get("max_energy_wh") else ""}
    if definition.get("max_duration_s") and definition["max_duration_s"] % 60:
        return None
    if kind == "free":
        return values
    if kind == "flat":
        return {**values, "flat_fee": _plain(definition.get("flat_price"))}
    if kind == "duration_energy":
        return {**values, "flat_fee": _plain(definition.get("connection_fee")),
                "price_per_kwh": _plain(definition.get("price_per_kwh")),
                "price_per_minute": _plain(definition.get("price_per_minute"))}
    bands = {b.get("name"): b for b in definition.get("bands") or []}
    if kind == "time_of_day" and set(bands) == {"day", "night"} and len(definition["bands"]) == 2 \
            and bands["day"]["start"] == bands["night"]["end"] and bands["day"]["end"] == bands["night"]["start"]:
        return {**values, "flat_fee": _plain(definition.get("connection_fee")),
                "price_per_kwh": _plain(bands["day"].get("price_per_kwh")),
                "price_per_minute": _plain(bands["day"].get("price_per_minute")),
                "night_price_per_kwh": _plain(bands["night"].get("price_per_kwh")),
                "night_price_per_minute": _plain(bands["night"].get("price_per_minute")),
                "night_from": bands["night"]["start"], "night_until": bands["night"]["end"]}
    return None


def _plain(value: Any) -> str:
    if value is None or Decimal(str(value)) == 0:
        return ""
    return f"{Decimal(str(value)).normalize():f}"
