"""Diagnostics for technicians (`appliance doctor`): small checks, each a verdict with what to do, that
read the box and the database without changing either."""

from __future__ import annotations

from appliance.config import Settings
from appliance.diagnostics.certificates import check_certificates
from appliance.diagnostics.chargers import check_chargers
from appliance.diagnostics.clock import check_clock, check_time_sync
from appliance.diagnostics.database import check_database
from appliance.diagnostics.disk import check_disk
from appliance.diagnostics.head_office import check_head_office, check_outbox
from appliance.diagnostics.notifications import check_notifications
from appliance.diagnostics.ports import check_ports
from appliance.diagnostics.readers import check_readers
from appliance.diagnostics.verdict import FAIL, OK, SKIPPED, WARNING, Context, Verdict, worst

__all__ = ["CHECKS", "FAIL", "OK", "SKIPPED", "WARNING", "Verdict", "run_checks", "worst"]

# In the order a technician reads them: the box, then the service, then what it talks to.
CHECKS = [check_database, check_disk, check_time_sync, check_clock, check_ports, check_readers, check_certificates,
          check_head_office, check_outbox, check_chargers, check_notifications]


def run_checks(settings: Settings, timeout_s: float = 5.0, full: bool = False) -> list[Verdict]:
    context = Context(settings, timeout_s, full)
    try:
        return [check(context) for check in CHECKS]
    finally:
        context.close()
