"""The JSON API of reports, for head office and spreadsheets: GET /api/v1/reports/{metric}?period=...
[&compare=...][&grain=...][&by=...][&format=csv], the site's load profile, and the saved reports."""

from __future__ import annotations

from aiohttp import web

from appliance.analytics import export
from appliance.analytics.metrics import DIMENSIONS, METRICS, ReportError
from appliance.analytics.periods import COMPARISONS, GRAINS, PERIOD_HELP, PeriodError
from appliance.analytics.service import Analytics, Query
from appliance.web.api import core_of, reply

routes = web.RouteTableDef()
REPORT_ERRORS = (ReportError, PeriodError)


def _bad(e: Exception) -> web.Response:
    return web.json_response({"error": str(e)}, status=400)


def _csv(request: web.Request, header: list[str], rows: list[list[str]], name: str) -> web.Response:
    return web.Response(text=export.as_csv(header, rows), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _format(request: web.Request) -> str:
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise ReportError(f"format {kind!r} is not one I know: use json or csv")
    return kind


@routes.get("/api/v1/reports")
async def what_reports(request: web.Request) -> web.Response:
    """What can be asked for, and the reports staff saved."""
    saved = await Analytics(core_of(request)).saved()
    return reply({
        "metrics": [{"name": m.name, "title": m.title, "unit": m.unit or "currency", "definition": m.definition,
                     "by": list(m.dimensions)} for m in METRICS.values()],
        "dimensions": list(DIMENSIONS), "grains": list(GRAINS), "periods": PERIOD_HELP,
        "comparisons": list(COMPARISONS) + ["a period"], "saved": saved})


@routes.get("/api/v1/reports/load-profile")
async def load_profile(request: web.Request) -> web.Response:
    core = core_of(request)
    q = request.query
    try:
        kind = _format(request)
        data = await Analytics(core).load_profile(q.get("period", "today"), q.get("grain", ""), q.get("circuit", ""))
    except REPORT_ERRORS as e:
        return _bad(e)
    if kind == "csv":
        return _csv(request, *export.load_table(data, core.settings.zone), "load-profile")
    return reply(data)


@routes.get("/api/v1/reports/{metric}")
async def report(request: web.Request) -> web.Response:
    core = core_of(request)
    query = Query.from_mapping({"period": "this-month", **request.query, "metric": request.match_info["metric"]})
    try:
        kind = _format(request)
        data = await Analytics(core).report(query)
    except REPORT_ERRORS as e:
        return _bad(e)
    if kind == "csv":
        return _csv(request, *export.report_table(data, core.settings.zone), f"{query.metric}-{query.period}")
    return reply(data)
