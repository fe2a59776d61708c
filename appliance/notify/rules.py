"""Who is told of which alarms: recipients, each an e-mail address or a webhook URL with the least
severity and the alarm kinds it wants.

A recipient is written `TARGET[;severity=LEVEL][;kinds=KIND+KIND...]`, several separated by commas
or spaces (settings notify_to and notify_webhook, `appliance notify set`), e.g.
`night@depot.example;severity=critical, tech@depot.example;kinds=connector_faulted+charger_offline`.
Without a severity a recipient gets warnings and worse; without kinds, every kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# The alarm kinds and severities the core raises; a rule naming another kind is a typo that would
# silently never match, so it is refused.
from appliance.core.alarm_rules import KINDS, SEVERITIES

DEFAULT_SEVERITY = "warning"
# Changes that make a message: an acknowledgement is staff telling each other, not news.
NOTIFIED_CHANGES = frozenset({"raised", "cleared", "updated"})

_EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[^@\s;,<>.]+$")


class RuleError(ValueError):
    """A recipient that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Recipient:
    target: str  # an e-mail address, or the http(s) URL of a webhook
    min_severity: str = DEFAULT_SEVERITY
    kinds: frozenset[str] = frozenset()  # empty: every kind

    @property
    def channel(self) -> str:
        return "webhook" if self.target.startswith(("http://", "https://")) else "email"

    def wants(self, kind: str, severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.min_severity) and (not self.kinds or kind in self.kinds)

    def spec(self) -> str:
        """The recipient written as it is parsed."""
        text = self.target
        if self.min_severity != DEFAULT_SEVERITY:
            text += f";severity={self.min_severity}"
        if self.kinds:
            text += ";kinds=" + "+".join(sorted(self.kinds))
        return text


def severity_rank(severity: str) -> int:
    """info 0, warning 1, critical 2; an unknown severity counts as critical (better told than not)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def parse_recipients(text: str, channel: str) -> list[Recipient]:
    """The recipients written in `text` (see the module's docstring); `channel` is email or webhook,
    and every target must be of it. Raises RuleError naming the first bad one."""
    recipients = []
    for item in re.split(r"[,\s]+", text.strip()):
        if item:
            recipients.append(parse_recipient(item, channel))
    return recipients


def parse_recipient(item: str, channel: str) -> Recipient:
    target, *options = item.split(";")
    _check_target(target, channel)
    severity, kinds = DEFAULT_SEVERITY, frozenset()
    for option in options:
        name, _, value = option.partition("=")
        if name == "severity":
            if value not in SEVERITIES:
                raise RuleError(f"{item}: severity must be one of {', '.join(SEVERITIES)}, not {value!r}")
            severity = value
        elif name == "kinds":
            kinds = frozenset(k for k in value.split("+") if k)
            unknown = sorted(kinds - set(KINDS))
            if unknown:
                raise RuleError(f"{item}: unknown alarm kind(s) {', '.join(unknown)}; the kinds are {', '.join(KINDS)}")
        else:
            raise RuleError(f"{item}: unknown option {name!r}; write TARGET;severity=LEVEL;kinds=KIND+KIND")
    return Recipient(target, severity, kinds)


def _check_target(target: str, channel: str) -> None:
    if channel == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RuleError(f"{target!r} is not a webhook URL: write https://HOST/PATH (http:// on a test bench)")
    elif not _EMAIL.match(target):
        raise RuleError(f"{target!r} is not an e-mail address (write name@example.org)")


def with_filter(recipients: list[Recipient], severity: str | None, kinds: frozenset[str] | None) -> list[Recipient]:
    """The recipients with a severity and kinds given beside them (`notify set --severity --kinds`),
    where they name none of their own."""
    return [Recipient(r.target,
                      severity if severity and r.min_severity == DEFAULT_SEVERITY else r.min_severity,
                      kinds if kinds and not r.kinds else r.kinds) for r in recipients]


def write_recipients(recipients: list[Recipient]) -> str:
    return ", ".join(r.spec() for r in recipients)
