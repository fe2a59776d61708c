"""The `appliance` command: one click group; each command parses, calls the core, prints.

Data commands work on the data directory directly (SQLite WAL lets the CLI and a running server
share it; the server sees CLI changes through the event journal). Live commands, which need a
connected charger, go through the running server's API. One module per command group.
"""

from appliance.cli import admin, backup, billing, chargers, circuits, doctor, readers, report, server, service, sessions, tokens, users  # noqa: F401  (they register commands)
from appliance.cli import alarms, maintenance  # noqa: F401  (alarms; the charger group's maintenance log)
from appliance.cli import notify  # noqa: F401  (notifications; the /metrics token)
from appliance.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="appliance")
