"""The reports pages: /reports (a metric over a period as a bar chart with the comparison overlaid, the
breakdown beside it, the buckets below, CSV of exactly that, saved reports) and /reports/load (each
circuit's measured current per phase against its limit). The filters are a GET form, so a report is a
link that can be bookmarked or saved."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from appliance.analytics import export
from appliance.analytics.metrics import DIMENSIONS, METRICS, ReportError
from appliance.analytics.periods import GRAINS, NAMED_PERIODS, PeriodError, parse_period
from appliance.analytics.service import Analytics, Query
from appliance.web import charts
from appliance.web.keys import AUDIT_ACTION, CORE, STAFF
from appliance.web.ui.render import FormError, redirect, render, text_field

routes = web.RouteTableDef()
REPORT_ERRORS = (ReportError, PeriodError)
PERIOD_LABELS = {"today": "Today", "yesterday": "Yesterday", "this-week": "This week", "last-week": "Last week",
                 "this-month": "This month", "last-month": "Last month", "this-year": "This year",
                 "last-year": "Last year", "custom": "From … to … (below)"}
COMPARE_LABELS = (("", "no comparison"), ("previous", "the period before"),
                  ("year-before", "the same days a year before"))
PHASE_COLORS = {"L1": "#1f5fa8", "L2": "#2e7d32", "L3": "#8e5a00"}
# Which field of the form an error is about, by the words it starts with.
ERROR_FIELDS = (("metric", "metric"), ("period", "period"), ("comparison", "compare"), ("grain", "grain"),
                ("breakdown", "by"), ("a period", "period"))


def query_of(request: web.Request) -> tuple[Query, dict[str, str]]:
    """The report asked for, and the form as shown (a custom period as its two days)."""
    q = request.query
    form = {k: str(q.get(k, "")).strip() for k in ("metric", "period", "from", "to", "compare", "grain", "by")}
    form["metric"] = form["metric"] or "energy"
    form["period"] = form["period"] or "this-month"
    period = form["period"]
    if period == "custom":
        period = f"{form['from']}..{form['to']}" if form["from"] or form["to"] else ""
    elif period not in NAMED_PERIODS:  # a saved or linked custom period: show it as its two days
        try:
            p = parse_period(period, request.app[CORE].settings.zone, dt.datetime.now(dt.timezone.utc))
            form.update(period="custom", **{"from": p.first.isoformat(), "to": p.last.isoformat()})
        except PeriodError:
            pass
    return Query(form["metric"], period, form["compare"], form["grain"], form["by"]), form


def _error_field(message: str) -> str:
    lower = message.lower()
    return next((name for words, name in ERROR_FIELDS if lower.startswith(words)), "")


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    query, form = query_of(request)
    analytics = Analytics(core)
    errors: dict[str, str] = {}
    data = None
    try:
        data = await analytics.report(query)
    except REPORT_ERRORS as e:
        message = str(e)[:1].upper() + str(e)[1:]
        errors[_error_field(str(e))] = message
    header, rows = export.report_table(data, core.settings.zone) if data else ([], [])
    if data and request.query.get("format") == "csv":
        return web.Response(text=export.as_csv(header, rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{query.metric}-report.csv"'})
    context = {
        "report": data, "header": header, "rows": rows, "chart": _chart(data) if data else None,
        "by_label": DIMENSIONS.get(data["by"], "") if data and data["by"] else "",
        "form": form, "errors": errors, "query_string": query.as_query_string(),
        "saved": await analytics.saved(), **choices(),
    }
    return await render(request, "reports.html", context, status=400 if errors else 200)


def choices() -> dict[str, Any]:
    return {
        "metric_choices": [(m.name, m.title) for m in METRICS.values()],
        "period_choices": list(PERIOD_LABELS.items()),
        "compare_choices": list(COMPARE_LABELS),
        "grain_choices": [("", "by the period's length")] + [(g, g) for g in GRAINS],
        "by_choices": [("", "no breakdown")] + list(DIMENSIONS.items()),
    }


def _chart(report: dict[str, Any]) -> str:
    labels = [b["label"] for b in report["buckets"]]
    unit = report["unit"]
    bars = [charts.Bars(f"{report['title']}, {report['period']['label']}", unit,
                        [_float(b["value"]) for b in report["buckets"]])]
    if report["compare"]:
        bars.append(charts.Bars(report["compare"]["period"]["label"], unit,
                                [_float(b["compare"]) for b in report["buckets"]], color="#b3261e", overlay=True))
    return charts.bar_chart(labels, bars, title=f"{report['title']} per {report['grain']}, "
                                                f"{report['period']['label']}", chart_id="report-chart")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# -- saved reports -------------------------------------------------------------------------------------

@routes.post("/reports/saved")
async def save_report(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    request[AUDIT_ACTION] = f"saved report {name[:100]}"
    query = Query.from_mapping(form)
    try:
        name = text_field(form, "name", "Name", max_length=100)
        await Analytics(request.app[CORE]).save(name, query, request[STAFF].account.name)
    except (FormError, *REPORT_ERRORS) as e:
        raise redirect("/reports?" + query.as_query_string(), f"The report was not saved: {e}", "error") from None
    raise redirect("/reports?" + query.as_query_string(), f"Report {name!r} saved.")


@routes.post("/reports/saved/{id:\\d+}/delete")
async def delete_report(request: web.Request) -> web.Response:
    report_id = int(request.match_info["id"])
    request[AUDIT_ACTION] = f"deleted saved report {report_id}"
    if not await Analytics(request.app[CORE]).delete_saved(report_id):
        raise redirect("/reports", "That saved report was deleted already.", "error")
    raise redirect("/reports", "Saved report deleted.")


# -- the load profile ----------------------------------------------------------------------------------

@routes.get("/reports/load")
async def load_page(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    q = request.query
    form = {k: str(q.get(k, "")).strip() for k in ("period", "grain", "circuit")}
    form["period"] = form["period"] or "today"
    errors: dict[str, str] = {}
    profile = None
    try:
        profile = await Analytics(core).load_profile(form["period"], form["grain"], form["circuit"])
    except REPORT_ERRORS as e:
        text = str(e)
        errors["circuit" if "circuit" in text else "grain" if text.startswith("grain") else "period"] = \
            text[:1].upper() + text[1:]
    header, rows = export.load_table(profile, core.settings.zone) if profile else ([], [])
    if profile and q.get("format") == "csv":
        return web.Response(text=export.as_csv(header, rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="load-profile.csv"'})
    circuits = await Analytics(core).circuit_names()
    context = {"profile": profile, "form": form, "errors": errors, "circuit_choices": circuits,
               "period_choices": [(p, PERIOD_LABELS[p]) for p in NAMED_PERIODS],
               "grain_choices": [("", "by the period's length")] + [(g, g) for g in GRAINS],
               "charts": [(c["circuit"], _load_chart(i, c, profile)) for i, c in enumerate(profile["circuits"])]
               if profile else [],
               "header": header, "rows": rows}
    return await render(request, "reports_load.html", context, status=400 if errors else 200)


def _load_chart(index: int, circuit: dict[str, Any], profile: dict[str, Any]) -> str:
    labels = [b["label"] for b in circuit["buckets"]]
    phases = sorted({p for b in circuit["buckets"] for p in b["measured_a"]}) or ["L1"]
    bars = [charts.Bars("Limit", "A", [circuit["limit_a"]] * len(labels), color="#e9c9c6")]
    bars += [charts.Bars(f"{p} measured, highest", "A", [b["measured_a"].get(p) for b in circuit["buckets"]],
                         color=PHASE_COLORS.get(p, "#555"), overlay=True) for p in phases]
    return charts.bar_chart(labels, bars, title=f"Circuit {circuit['circuit']}: highest current per phase against "
                                                f"its limit, {profile['period']['label']}",
                            chart_id=f"load-{index}", empty_text="no load recorded", width=960, height=320)
