"""A report as a table: the rows the page shows, the CLI prints and the CSV export holds (the same rows,
so the CSV is exactly what is shown). One row per bucket, a column per key of the breakdown, then the
whole and the comparison; a last row of totals. Times are in the depot's zone."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any


def _value(value: Any) -> str:
    return "" if value is None else str(value)


def report_table(report: dict[str, Any], zone: dt.tzinfo) -> tuple[list[str], list[list[str]]]:
    unit = report["unit"]
    keys = [row["key"] for row in report["breakdown"]]
    header = ["bucket", "from", "to"] + [f"{k} ({unit})" for k in keys] + [f"{report['title']} ({unit})"]
    if report["compare"]:
        header.append(f"{report['compare']['period']['label']} ({unit})")
    rows = []
    for b in report["buckets"]:
        row = [b["label"], _local(b["start"], zone), _local(b["end"], zone)]
        row += [_value(b["by"].get(k)) for k in keys] + [_value(b["value"])]
        if report["compare"]:
            row.append(_value(b["compare"]))
        rows.append(row)
    period = report["period"]
    total = ["total", _local(period["start"], zone), _local(period["end"], zone)]
    total += [_value(r["value"]) for r in report["breakdown"]] + [_value(report["total"])]
    if report["compare"]:
        total.append(_value(report["compare"]["total"]))
    rows.append(total)
    return header, rows


def load_table(profile: dict[str, Any], zone: dt.tzinfo) -> tuple[list[str], list[list[str]]]:
    phases = sorted({p for c in profile["circuits"] for b in c["buckets"] for p in b["measured_a"]}) or ["L1"]
    header = (["circuit", "bucket", "from"] + [f"measured {p} (A)" for p in phases]
              + ["peak (A)", "limit (A)", "peak of limit (%)"])
    rows = []
    for c in profile["circuits"]:
        for b in c["buckets"]:
            rows.append([c["circuit"], b["label"], _local(b["start"], zone)]
                        + [_value(b["measured_a"].get(p)) for p in phases]
                        + [_value(b["peak_a"]), _value(c["limit_a"]), _value(b["of_limit_pct"])])
    return header, rows


def as_csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_safe(row) for row in rows])
    return out.getvalue()


def _safe(row: list[str]) -> list[str]:
    """A name starting with = + - @ is not run as a formula by a spreadsheet (CSV injection); numbers
    (a negative revenue) are left alone."""
    return [f"'{cell}" if cell[:1] in ("=", "+", "-", "@") and not _number(cell) else cell for cell in row]


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _local(at: Any, zone: dt.tzinfo) -> str:
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    return at.astimezone(zone).isoformat(timespec="minutes")
