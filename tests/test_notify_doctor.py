"""`appliance doctor`'s notifications check: skipped while nobody is told of alarms, ok while everything
told was delivered, a warning with the server's words while messages wait on a failing server or were
refused for good."""

from __future__ import annotations

import asyncio
import datetime as dt

from appliance.config import load_settings
from appliance.core.services import open_core
from appliance.store import notifications as store
from tests.test_doctor import depot, doctor, port  # noqa: F401  (port: the fixture)

def queue(data_dir, error: str, next_attempt_in: dt.timedelta | None) -> None:
    """One notification to ops@depot.example, raised 2 h ago, whose delivery failed with `error`; the
    next attempt `next_attempt_in` from now (None: refused for good). Times from the moment it is called:
    a module-level "now" is minutes old by the time a long test run gets here."""
    now = dt.datetime.now(dt.timezone.utc)

    def failed_sync() -> None:
        [notification_id] = store.collect(["ops@depot.example"], {}, now - dt.timedelta(hours=2), now)
        store.close_due(now, lambda record: ("subject", "body", {}))
        store.mark_attempt_failed(notification_id, error, now + next_attempt_in if next_attempt_in else None)

    async def write() -> None:
        core = open_core(load_settings({"data_dir": data_dir}))
        try:
            await core.db.write(failed_sync)
        finally:
            await core.close()

    asyncio.run(write())


def test_nobody_told_is_skipped_and_all_delivered_is_ok(tmp_path, port):  # noqa: F811
    data_dir = depot(tmp_path / "data")
    _, checks = doctor(data_dir, port)
    assert checks["notifications"]["status"] == "skipped" and "nobody is told" in checks["notifications"]["summary"]
    _, checks = doctor(data_dir, port, notify_to="ops@depot.example")
    assert checks["notifications"] == {"name": "notifications", "status": "ok", "action": "",
                                       "summary": "1 recipient(s); every notification delivered"}


def test_messages_waiting_on_a_failing_server_are_a_warning(tmp_path, port):  # noqa: F811
    data_dir = depot(tmp_path / "data")
    queue(data_dir, "the mail server mail.example:587 could not be reached (refused)", dt.timedelta(minutes=5))
    _, checks = doctor(data_dir, port, notify_to="ops@depot.example")
    check = checks["notifications"]
    assert check["status"] == "warning" and "appliance notify test" in check["action"]
    assert check["summary"] == ("1 recipient(s); 1 notification(s) not delivered yet, the oldest from 2 h ago: the "
                                "mail server mail.example:587 could not be reached (refused)")


def test_messages_refused_for_good_are_a_warning(tmp_path, port):  # noqa: F811
    data_dir = depot(tmp_path / "data")
    queue(data_dir, "the mail server refused the address: ops@depot.example: 550 no such user", None)
    _, checks = doctor(data_dir, port, notify_to="ops@depot.example")
    assert checks["notifications"]["status"] == "warning"
    assert checks["notifications"]["summary"].endswith("1 notification(s) refused for good in the last 30 days: the "
                                                       "mail server refused the address: ops@depot.example: 550 no "
                                                       "such user")
