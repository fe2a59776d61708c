"""How the CLI prints: aligned tables for people, JSON for scripts (--json)."""

from __future__ import annotations

import json
from typing import Any, Iterable

import click

from appliance.web.api import to_jsonable


def print_records(records: Iterable[Any], as_json: bool, columns: list[str]) -> None:
    rows = [to_jsonable(r) for r in records]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def print_result(record: Any, as_json: bool, summary: str | None = None) -> None:
    data = to_jsonable(record)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif summary:
        click.echo(summary)
    else:
        _print_tree(data, 0)


def _print_tree(data: Any, indent: int) -> None:
    pad = "  " * indent
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                click.echo(f"{pad}{key}:")
                _print_tree(value, indent + 1)
            else:
                click.echo(f"{pad}{key}: {_cell(value)}")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            if isinstance(item, (dict, list)):
                click.echo(f"{pad}- [{i}]")
                _print_tree(item, indent + 1)
            else:
                click.echo(f"{pad}- {_cell(item)}")
    else:
        click.echo(f"{pad}{_cell(data)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)
