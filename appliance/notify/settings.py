"""The notification configuration in force: the settings (config file, environment), with what
`appliance notify set` stored in the database over them. The server reads the stored part again each
time it notifies, so a change made with the CLI takes effect without a restart."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.config import Settings, SettingsError, parse_setting
from appliance.notify import rules, schedule
from appliance.notify.rules import Recipient
from appliance.notify.senders import SmtpServer, parse_smtp_url

log = logging.getLogger(__name__)

# The settings `appliance notify set` may store (a stored value wins over the config file's).
STORED = ("notify_smtp", "notify_smtp_security", "notify_smtp_user", "notify_smtp_password", "notify_from",
          "notify_to", "notify_webhook", "notify_batch_s", "notify_daily_summary_at")
SECRET = frozenset({"notify_smtp_password"})
STORED_SOURCE = "appliance notify set"


def check_setting(name: str, value: Any) -> None:
    """ValueError when a notify_* setting's value cannot be used (config.py's validation calls it)."""
    if name == "notify_smtp":
        parse_smtp_url(value, "starttls")
    elif name == "notify_to":
        rules.parse_recipients(value, "email")
    elif name == "notify_webhook":
        rules.parse_recipients(value, "webhook")
    elif name == "notify_from":
        rules.parse_recipient(value, "email")
    elif name == "notify_daily_summary_at":
        schedule.parse_time_of_day(value)


@dataclass(frozen=True)
class NotifyConfig:
    smtp: SmtpServer | None  # None: no mail server configured
    recipients: list[Recipient]  # e-mail addresses first, then webhooks
    batch_s: float
    daily_summary_at: dt.time | None
    timeout_s: float
    retry_max_s: float
    values: dict[str, Any]  # each stored-or-set notify_* value, for `notify show`
    sources: dict[str, str]  # where each came from: the settings, or STORED_SOURCE

    def recipient(self, target: str) -> Recipient | None:
        return next((r for r in self.recipients if r.target == target), None)

    def shown(self) -> dict[str, Any]:
        """The configuration as `notify show` prints it: the password masked, webhook queries masked."""
        shown = {}
        for name in STORED:
            value = self.values[name]
            if name in SECRET and value:
                value = "********"
            elif name == "notify_webhook" and value:
                value = ", ".join(mask_url(r.spec()) for r in rules.parse_recipients(value, "webhook"))
            shown[name] = {"value": value, "from": self.sources[name]}
        return shown


def effective(settings: Settings, stored: dict[str, str]) -> NotifyConfig:
    """The settings with the stored values over them; a stored value that no longer parses (written by
    another version) is logged and left out."""
    values: dict[str, Any] = {name: getattr(settings, name) for name in STORED}
    sources = {name: "settings" for name in STORED}
    for name, text in stored.items():
        if name not in values:
            continue
        try:
            values[name] = parse_setting(name, text, STORED_SOURCE)
            sources[name] = STORED_SOURCE
        except SettingsError as e:
            log.warning("ignoring a stored notification setting: %s", e)
    smtp = None
    if values["notify_smtp"]:
        host, port, security = parse_smtp_url(values["notify_smtp"], values["notify_smtp_security"])
        smtp = SmtpServer(host, port, security, values["notify_smtp_user"], values["notify_smtp_password"],
                          values["notify_from"] or f"depot-appliance@{socket.getfqdn()}")
    recipients = (rules.parse_recipients(values["notify_to"], "email")
                  + rules.parse_recipients(values["notify_webhook"], "webhook"))
    summary_at = values["notify_daily_summary_at"]
    return NotifyConfig(smtp, recipients, float(values["notify_batch_s"]),
                        schedule.parse_time_of_day(summary_at) if summary_at else None,
                        settings.notify_timeout_s, settings.notify_retry_max_s, values, sources)


def mask_url(url: str) -> str:
    """A webhook URL as it may be shown or logged: services put their keys in the query string or in the
    path (chat webhooks: /services/T0/B0/KEY), so both are masked past the path's first part."""
    parts = urlsplit(url)
    first, _, rest = parts.path.lstrip("/").partition("/")
    path = f"/{first}" + ("/***" if rest else "") if first else parts.path
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}" + ("?***" if parts.query else "")
