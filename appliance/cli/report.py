"""`appliance report METRIC`: a report over a period from the database (no running server needed), as a
table, CSV or JSON; `appliance report load-profile` for the circuits' load against their limits."""

from __future__ import annotations

import json

import click

from appliance.analytics import export
from appliance.analytics.metrics import DIMENSIONS, METRICS, ReportError
from appliance.analytics.periods import PERIOD_HELP, PeriodError
from appliance.analytics.service import Analytics, Query
from appliance.cli.base import cli, with_core
from appliance.core.services import Core
from appliance.web.api import to_jsonable

LOAD_PROFILE = "load-profile"


@cli.command("report")
@click.argument("metric", metavar="METRIC")
@click.option("--period", default="this-month", show_default=True, help=f"The period: {PERIOD_HELP}.")
@click.option("--compare", default="", help="Compare with: previous, year-before or another period.")
@click.option("--grain", default="", help="hour, day, week or month (default: by the period's length).")
@click.option("--by", default="", help=f"Break down by {', '.join(DIMENSIONS)}.")
@click.option("--circuit", default="", help=f"{LOAD_PROFILE}: one circuit only.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for a spreadsheet).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_core
async def report(core: Core, metric: str, period: str, compare: str, grain: str, by: str, circuit: str,
                 as_csv: bool, as_json: bool) -> None:
    """A report over a period (the help text is set below: it names the metrics)."""
    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    analytics = Analytics(core)
    try:
        if metric == LOAD_PROFILE:
            if by or compare:
                raise click.UsageError(f"{LOAD_PROFILE} takes --period, --grain and --circuit only")
            data = await analytics.load_profile(period, grain, circuit)
            header, rows = export.load_table(data, core.settings.zone)
        else:
            if circuit:
                raise click.UsageError(f"--circuit is for {LOAD_PROFILE} only")
            data = await analytics.report(Query(metric, period, compare, grain, by))
            header, rows = export.report_table(data, core.settings.zone)
    except (ReportError, PeriodError) as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(json.dumps(to_jsonable(data), indent=2, default=str))
    elif as_csv:
        click.echo(export.as_csv(header, rows), nl=False)
    else:
        _print_table(header, rows)


report.help = (f"A report over a period: METRIC is one of {', '.join(METRICS)}, or {LOAD_PROFILE} (the "
               "circuits' load against their limits). Example: appliance report energy --period this-month "
               "--by company --csv")


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
