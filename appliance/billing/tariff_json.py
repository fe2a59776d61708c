"""A tariff as JSON, for the store and the API: Decimals as strings (never floats), times as HH:MM."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from appliance.billing.tariffs import PowerBand, Tariff, TimeBand

_DECIMALS = ("vat_rate", "flat_price", "connection_fee", "price_per_kwh", "price_per_minute")
_INTEGERS = ("max_duration_s", "max_energy_wh")


class TariffFormatError(ValueError):
    """A tariff given as JSON that cannot be read; the message names the field."""


def to_json(tariff: Tariff) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": tariff.kind, "currency": tariff.currency}
    for name in _DECIMALS:
        out[name] = str(getattr(tariff, name))
    for name in _INTEGERS:
        out[name] = getattr(tariff, name)
    out["bands"] = [{"start": b.start.strftime("%H:%M"), "end": b.end.strftime("%H:%M"), "name": b.name,
                     "price_per_kwh": str(b.price_per_kwh), "price_per_minute": str(b.price_per_minute)}
                    for b in tariff.bands]
    out["power_bands"] = [{"max_power_kw": str(b.max_power_kw), "price_per_minute": str(b.price_per_minute)}
                          for b in tariff.power_bands]
    return out


def from_json(tariff_id: str, name: str, data: dict[str, Any]) -> Tariff:
    """Read a tariff; prices may be given as strings or numbers (a number goes through its text, so
    0.1 stays 0.1)."""
    if not isinstance(data, dict):
        raise TariffFormatError("a tariff is a JSON object")
    fields: dict[str, Any] = {"id": tariff_id, "name": name, "kind": str(data.get("kind", ""))}
    if data.get("currency") is not None:
        fields["currency"] = str(data["currency"])
    for key in _DECIMALS:
        if data.get(key) is not None:
            fields[key] = _decimal(data[key], key)
    for key in _INTEGERS:
        if data.get(key) is not None:
            if isinstance(data[key], bool) or not isinstance(data[key], int):
                raise TariffFormatError(f"{key} must be a whole number")
            fields[key] = data[key]
    fields["bands"] = tuple(_band(b, i) for i, b in enumerate(data.get("bands") or []))
    fields["power_bands"] = tuple(
        PowerBand(_decimal(_get(b, "max_power_kw", f"power_bands[{i}]"), f"power_bands[{i}].max_power_kw"),
                  _decimal(_get(b, "price_per_minute", f"power_bands[{i}]"), f"power_bands[{i}].price_per_minute"))
        for i, b in enumerate(data.get("power_bands") or []))
    return Tariff(**fields)


def with_identity(tariff: Tariff, tariff_id: str, name: str) -> Tariff:
    return dataclasses.replace(tariff, id=tariff_id, name=name)


def _band(data: Any, i: int) -> TimeBand:
    where = f"bands[{i}]"
    return TimeBand(_time(_get(data, "start", where), f"{where}.start"), _time(_get(data, "end", where), f"{where}.end"),
                    _decimal(data.get("price_per_kwh", "0"), f"{where}.price_per_kwh"),
                    _decimal(data.get("price_per_minute", "0"), f"{where}.price_per_minute"), str(data.get("name", "")))


def _get(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, dict) or data.get(key) is None:
        raise TariffFormatError(f"{where}.{key} is required")
    return data[key]


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TariffFormatError(f"{where} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise TariffFormatError(f"{where} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise TariffFormatError(f"{where} must be a finite number")
    return number


def _time(value: Any, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise TariffFormatError(f"{where} must be a time of day HH:MM, not {value!r}") from None
