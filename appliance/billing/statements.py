"""Statements for the depot: a company's or a driver's sessions of a period as CSV or PDF, and the
plain session export (CSV) an accountant imports.

Pure: statement rows (store.statements.StatementRow) in, text or bytes out. Amounts are the standing
CDRs' figures as written, never recomputed or rounded again: a figure with fewer decimals than its
currency's minor unit is padded, never cut. Decimals are written with a dot, never through floats.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appliance.billing.pricing import minor_units

if TYPE_CHECKING:  # the row's shape only: billing does no I/O
    from appliance.store.statements import StatementRow

HEADER = ("Session ID", "Start", "End", "Charger", "EVSE", "Tag", "Driver", "Vehicle", "Company", "Energy kWh",
          "Duration", "Net", "VAT", "Gross", "Currency", "CDR ID")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection"); names
# and tag ids come from staff and chargers, so such text is written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Shipped in the package (see fonts/LICENSE-DejaVu.txt): the PDF core fonts are latin-1 only, and
# depot, company and driver names are not (ł, ő), nor is the euro sign.
FONT = "DejaVuSans.ttf"
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


@dataclass(frozen=True)
class Total:
    currency: str
    sessions: int
    energy_wh: int
    duration_s: int
    total_excl_vat: Decimal
    vat: Decimal
    total_incl_vat: Decimal


def totals(rows: Iterable[StatementRow]) -> list[Total]:
    """One total per currency, in currency order: amounts in two currencies never add up."""
    by_currency: dict[str, list[StatementRow]] = {}
    for row in rows:
        by_currency.setdefault(row.currency, []).append(row)
    return [Total(currency, len(group), sum(r.energy_wh for r in group), sum(r.duration_s for r in group),
                  sum((r.total_excl_vat for r in group), Decimal(0)), sum((r.vat for r in group), Decimal(0)),
                  sum((r.total_incl_vat for r in group), Decimal(0)))
            for currency, group in sorted(by_currency.items())]


# -- CSV --------------------------------------------------------------------------------------

def sessions_csv(rows: Iterable[StatementRow], zone: ZoneInfo) -> str:
    """A header line, then one line per session in the order given: times in the depot's local time
    (ISO 8601 with its offset), energy in kWh to the Wh, duration h:mm:ss, net, VAT and gross. RFC 4180
    (CRLF line ends); the caller chooses the file's encoding (Excel wants UTF-8 with a BOM)."""
    return _csv([HEADER, *(_csv_line(r, zone) for r in rows)])


def statement_csv(rows: Sequence[StatementRow], zone: ZoneInfo, title: str) -> str:
    """The title alone on the first line, then the lines of sessions_csv, then a total line per
    currency ("Total (3 sessions)" in the first column)."""
    lines: list[Sequence[str]] = [[_text(title)], HEADER, *(_csv_line(r, zone) for r in rows)]
    for t in totals(rows):
        label = f"Total ({t.sessions} session{'' if t.sessions == 1 else 's'})"
        lines.append([label, "", "", "", "", "", "", "", "", kwh(t.energy_wh), duration(t.duration_s),
                      money(t.total_excl_vat, t.currency), money(t.vat, t.currency),
                      money(t.total_incl_vat, t.currency), t.currency, ""])
    return _csv(lines)


def _csv(lines: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue()


def _csv_line(r: StatementRow, zone: ZoneInfo) -> list[str]:
    return [str(r.transaction_id), local_iso(r.started_at, zone), local_iso(r.stopped_at, zone), _text(r.charger),
            str(r.evse_number), _text(r.id_tag), _text(r.driver), _text(r.vehicle), _text(r.company),
            kwh(r.energy_wh), duration(r.duration_s), money(r.total_excl_vat, r.currency), money(r.vat, r.currency),
            money(r.total_incl_vat, r.currency), r.currency, r.cdr_id]


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


# -- figures ----------------------------------------------------------------------------------

def local_iso(at: dt.datetime, zone: ZoneInfo) -> str:
    """2026-10-25T02:30:00+02:00: the offset tells the two 02:30s of a fall-back night apart."""
    return at.astimezone(zone).isoformat(timespec="seconds")


def kwh(energy_wh: int) -> str:
    return f"{Decimal(energy_wh).scaleb(-3):.3f}"


def duration(duration_s: int) -> str:
    """h:mm:ss, hours not wrapped at a day."""
    minutes, seconds = divmod(duration_s, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def money(amount: Decimal, currency: str) -> str:
    """Fixed point with at least the currency's minor unit: 12.3 -> 12.30, 12.345 stays 12.345."""
    places = minor_units(currency)
    if amount.as_tuple().exponent > -places:  # type: ignore[operator]  # amounts are finite
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return f"{amount:f}"


def money_with_symbol(amount: Decimal, currency: str) -> str:
    return f"{money(amount, currency)} {_SYMBOLS.get(currency, currency)}"


# -- PDF --------------------------------------------------------------------------------------

def statement_pdf(rows: Sequence[StatementRow], zone: ZoneInfo, title: str, depot_name: str, period_label: str,
                  rounding_rule: str, *, created_at: dt.datetime | None = None) -> bytes:
    """An A4 statement (see statement_pdf.render)."""
    # fpdf takes a quarter of a second to import: only when a PDF is asked for, not at every start.
    from appliance.billing.statement_pdf import render

    return render(rows, zone, title, depot_name, period_label, rounding_rule, created_at=created_at)
