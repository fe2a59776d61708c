"""A finished session as an OCPI 2.2.1 charge detail record (CDR), and the credit that cancels one.

Pure: the session's facts, its price and its signed meter data in, a JSON-ready dict out. Amounts
are OCPI numbers (the Decimal's value, at most 4 decimals as OCPI allows); energy in kWh, times in
hours, as OCPI wants them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from appliance.billing.pricing import Price
from appliance.billing.tariffs import Tariff

KWH = Decimal(1000)
HOUR_S = Decimal(3600)


@dataclass(frozen=True)
class Party:
    """Who issues the CDRs (OCPI country code and party id)."""

    country_code: str
    party_id: str


@dataclass(frozen=True)
class Session:
    transaction_id: int
    charger: str
    evse_number: int
    connector_type: str  # OCPI connector standard, e.g. IEC_62196_T2
    power_type: str  # AC_1_PHASE, AC_3_PHASE, DC
    id_tag: str
    token_type: str  # RFID, APP_USER, AD_HOC_USER, OTHER
    auth_method: str  # AUTH_REQUEST, WHITELIST
    company: str
    started_at: dt.datetime
    stopped_at: dt.datetime


@dataclass(frozen=True)
class SignedValue:
    nature: str  # Start, End, Intermediate
    plain_data: str
    signed_data: str


def cdr_document(cdr_id: str, party: Party, session: Session, price: Price, tariff: Tariff,
                 signed: list[SignedValue], signed_encoding: str, public_key: str, now: dt.datetime) -> dict[str, Any]:
    charging_s = sum(p.duration_s for p in price.periods if p.energy_wh > 0)
    document: dict[str, Any] = {
        "country_code": party.country_code, "party_id": party.party_id, "id": cdr_id,
        "start_date_time": _time(session.started_at), "end_date_time": _time(session.stopped_at),
        "session_id": str(session.transaction_id),
        "cdr_token": {"country_code": party.country_code, "party_id": party.party_id, "uid": session.id_tag,
                      "type": session.token_type, "contract_id": session.id_tag},
        "auth_method": session.auth_method,
        "cdr_location": {
            "id": session.charger, "evse_uid": f"{session.charger}*{session.evse_number}",
            "evse_id": f"{session.charger}*{session.evse_number}", "connector_id": str(session.evse_number),
            "connector_standard": session.connector_type, "connector_format": "CABLE",
            "connector_power_type": session.power_type},
        "currency": price.currency,
        "tariffs": [_tariff(tariff, party, now)],
        "charging_periods": [
            {"start_date_time": _time(p.start), "tariff_id": tariff.id,
             "dimensions": [{"type": "ENERGY", "volume": _number(p.energy_wh / KWH)},
                            {"type": "TIME", "volume": _number(Decimal(p.duration_s) / HOUR_S)}]}
            for p in price.periods],
        "total_cost": {"excl_vat": _number(price.total_excl_vat), "incl_vat": _number(price.total_incl_vat)},
        "total_energy": _number(Decimal(price.energy_wh) / KWH),
        "total_time": _number(Decimal(price.duration_s) / HOUR_S),
        "total_parking_time": _number(Decimal(max(0, price.duration_s - charging_s)) / HOUR_S),
        "remark": session.company,
        "last_updated": _time(now),
    }
    if signed:
        document["signed_data"] = {
            "encoding_method": signed_encoding, "encoding_method_version": 1, "public_key": public_key,
            "signed_values": [{"nature": s.nature, "plain_data": s.plain_data, "signed_data": s.signed_data}
                              for s in signed]}
    return document


def credit_document(credit_id: str, original: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """OCPI's credit CDR: the original's content with negated costs, pointing at it."""
    credit = dict(original, id=credit_id, credit=True, credit_reference_id=original["id"], last_updated=_time(now))
    credit["total_cost"] = {k: -v for k, v in original["total_cost"].items()}
    return credit


def _tariff(tariff: Tariff, party: Party, now: dt.datetime) -> dict[str, Any]:
    """The tariff in OCPI's shape, enough for head office to see what applied (prices incl. VAT)."""
    elements: list[dict[str, Any]] = []
    if tariff.kind == "flat":
        elements.append({"price_components": [_component("FLAT", tariff.flat_price, tariff)]})
    elif tariff.kind in ("duration_energy", "time_of_day", "power_levels"):
        if tariff.connection_fee:
            elements.append({"price_components": [_component("FLAT", tariff.connection_fee, tariff)]})
        if tariff.kind == "duration_energy":
            elements.append({"price_components": [_component("ENERGY", tariff.price_per_kwh, tariff, 1),
                                                  _component("TIME", tariff.price_per_minute * 60, tariff, 60)]})
        for band in tariff.bands:
            elements.append({"price_components": [_component("ENERGY", band.price_per_kwh, tariff, 1),
                                                  _component("TIME", band.price_per_minute * 60, tariff, 60)],
                             "restrictions": {"start_time": band.start.strftime("%H:%M"),
                                              "end_time": band.end.strftime("%H:%M")}})
        low = Decimal(0)
        for band in tariff.power_bands:
            elements.append({"price_components": [_component("TIME", band.price_per_minute * 60, tariff, 60)],
                             "restrictions": {"min_power": _number(low), "max_power": _number(band.max_power_kw)}})
            low = band.max_power_kw
    return {"country_code": party.country_code, "party_id": party.party_id, "id": tariff.id,
            "currency": tariff.currency, "type": "REGULAR", "elements": elements or [
                {"price_components": [_component("FLAT", Decimal(0), tariff)]}], "last_updated": _time(now)}


def _component(kind: str, price_incl_vat: Decimal, tariff: Tariff, step_size: int = 1) -> dict[str, Any]:
    """OCPI prices are excl. VAT with the VAT rate beside them; ours are entered incl. VAT."""
    return {"type": kind, "price": _number(price_incl_vat / (1 + tariff.vat_rate)),
            "vat": _number(tariff.vat_rate * 100), "step_size": step_size}


def _number(value: Decimal) -> float | int:
    """OCPI numbers carry at most 4 decimals."""
    rounded = Decimal(value).quantize(Decimal("0.0001"))
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
