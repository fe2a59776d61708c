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
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fpdf import FPDF, FontFace

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


def _money_with_symbol(amount: Decimal, currency: str) -> str:
    return f"{money(amount, currency)} {_SYMBOLS.get(currency, currency)}"


# -- PDF --------------------------------------------------------------------------------------

_COLUMNS = ("Date", "Time", "Charger", "Tag / driver", "kWh", "Net", "VAT", "Gross")
_WIDTHS = (19, 27, 21, 49, 15, 18, 15, 18)  # mm, the 182 mm between A4's 14 mm margins
_ALIGN = ("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
_TOTAL_COLUMNS = ("Currency", "Sessions", "kWh", "Net", "VAT", "Gross")
_TOTAL_WIDTHS = (20, 18, 20, 22, 22, 22)
_HEADINGS = FontFace(emphasis="", fill_color=225)  # the font has no bold face: shading marks headings


class _StatementPdf(FPDF):
    """A4 pages whose header names depot, statement and period, and whose footer numbers them."""

    def __init__(self, depot_name: str, title: str, period_label: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.depot_name, self.statement_title, self.period_label = depot_name, title, period_label
        self.set_margins(14, 12, 14)
        self.set_auto_page_break(True, margin=16)
        self.add_font("DejaVu", "", str(resources.files("appliance.billing") / "fonts" / FONT))

    def header(self) -> None:
        self.set_font("DejaVu", size=9)
        self.set_text_color(90)
        self.cell(0, 5, self.depot_name, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.set_font("DejaVu", size=14)
        self.cell(0, 8, self.statement_title, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", size=10)
        self.cell(0, 6, self.period_label, new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.set_text_color(90)
        # {nb} is fpdf's alias for the page count, filled in when the document is closed.
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


def statement_pdf(rows: Sequence[StatementRow], zone: ZoneInfo, title: str, depot_name: str, period_label: str,
                  rounding_rule: str, *, created_at: dt.datetime | None = None) -> bytes:
    """An A4 statement: the sessions (date and times local to `zone`), totals per currency, the
    rounding rule as a footnote, "page N of M" on each page and the table's header on each page.
    `created_at` (aware) is the document's creation date; without it fpdf stamps the current time,
    so give it where the same statement must give the same bytes."""
    pdf = _StatementPdf(depot_name, title, period_label)
    pdf.set_title(f"{title}, {period_label}")
    pdf.set_author(depot_name)
    if created_at is not None:
        pdf.set_creation_date(created_at)
    pdf.add_page()
    pdf.set_font("DejaVu", size=8)
    if rows:
        _table(pdf, _COLUMNS, _WIDTHS, _ALIGN, [_pdf_line(r, zone) for r in rows])
        pdf.ln(4)
        _table(pdf, _TOTAL_COLUMNS, _TOTAL_WIDTHS, ("LEFT",) + ("RIGHT",) * 5, [
            (t.currency, str(t.sessions), kwh(t.energy_wh), _money_with_symbol(t.total_excl_vat, t.currency),
             _money_with_symbol(t.vat, t.currency), _money_with_symbol(t.total_incl_vat, t.currency))
            for t in totals(rows)])
    else:
        pdf.cell(0, 6, "No charging sessions in this period.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", size=7)
    pdf.multi_cell(0, 3.5, "Net = excl. VAT, gross = incl. VAT; prices are entered incl. VAT. Rounding: "
                   + rounding_rule, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _table(pdf: FPDF, columns: Sequence[str], widths: Sequence[float], align: Sequence[str],
           lines: Iterable[Sequence[str]]) -> None:
    with pdf.table(col_widths=widths, width=sum(widths), align="LEFT", text_align=tuple(align),
                   headings_style=_HEADINGS, line_height=4.5, padding=(0.6, 1.2), repeat_headings=1) as table:
        for line in [columns, *lines]:
            cells = table.row()
            for text in line:
                cells.cell(text)


def _pdf_line(r: StatementRow, zone: ZoneInfo) -> tuple[str, ...]:
    start, stop = r.started_at.astimezone(zone), r.stopped_at.astimezone(zone)
    days = (stop.date() - start.date()).days
    until = f"{stop:%H:%M}" + (f" +{days}d" if days else "")  # a session over midnight
    who = r.driver or r.vehicle
    return (f"{start:%Y-%m-%d}", f"{start:%H:%M}–{until}", f"{r.charger} #{r.evse_number}",
            f"{who} ({r.id_tag})" if who else r.id_tag, kwh(r.energy_wh),
            _money_with_symbol(r.total_excl_vat, r.currency), _money_with_symbol(r.vat, r.currency),
            _money_with_symbol(r.total_incl_vat, r.currency))
