"""Statements as A4 PDF (fpdf2, with the shipped DejaVu font), apart from the CSV so that fpdf is
imported only when a PDF is made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fpdf import FPDF, FontFace

from appliance.billing.statements import FONT, money_with_symbol, kwh, totals

if TYPE_CHECKING:
    from appliance.store.statements import StatementRow

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


def render(rows: Sequence[StatementRow], zone: ZoneInfo, title: str, depot_name: str, period_label: str,
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
            (t.currency, str(t.sessions), kwh(t.energy_wh), money_with_symbol(t.total_excl_vat, t.currency),
             money_with_symbol(t.vat, t.currency), money_with_symbol(t.total_incl_vat, t.currency))
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
            money_with_symbol(r.total_excl_vat, r.currency), money_with_symbol(r.vat, r.currency),
            money_with_symbol(r.total_incl_vat, r.currency))
