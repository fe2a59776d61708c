"""The words of a notification: subject and body of an e-mail, and the JSON a webhook receives.

Pure: everything comes in as arguments (the depot's zone and the appliance's name included). Times
are shown in the depot's time zone and sent to webhooks in UTC (ISO 8601).

The webhook's JSON (documented in README, "Notifications"):
    {"type": "alarms" | "daily_summary" | "test", "id": "N", "appliance": NAME, "subject": "...",
     "text": "...the e-mail's body...", "created_at": UTC,
     "alarms": [{"alarm_id", "kind", "severity", "charger", "title", "detail", "change", "at"}, ...],
     "open_alarms": [...]  (daily_summary only: {"alarm_id", "kind", "severity", "charger", "title",
                            "raised_at", "acknowledged_by"})}
`id` is the same on every attempt to deliver one notification: a receiver that sees it twice (its
answer was lost) can tell.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from typing import Any

from appliance.notify.rules import SEVERITIES, severity_rank

LISTED_AT_MOST = 500  # a message lists this many alarms, then says how many more


@dataclass(frozen=True)
class AlarmNote:
    """One alarm change as a notification carries it (the AlarmChanged event, with its time)."""

    alarm_id: int
    kind: str
    severity: str
    identity: str | None
    title: str
    detail: str
    change: str  # raised, cleared, updated
    at: dt.datetime  # UTC

    def as_json(self) -> dict[str, Any]:
        return {"alarm_id": self.alarm_id, "kind": self.kind, "severity": self.severity, "charger": self.identity,
                "title": self.title, "detail": self.detail, "change": self.change, "at": _utc(self.at)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AlarmNote":
        return cls(data["alarm_id"], data["kind"], data["severity"], data.get("charger"), data["title"],
                   data.get("detail", ""), data["change"], dt.datetime.fromisoformat(data["at"]))


@dataclass(frozen=True)
class SummaryAlarm:
    """An alarm as the daily summary shows it."""

    alarm_id: int
    kind: str
    severity: str
    identity: str | None
    title: str
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    acknowledged_by: str = ""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    payload: dict[str, Any]  # the webhook's JSON


def render_batch(notes: list[AlarmNote], zone: zoneinfo.ZoneInfo, appliance: str, created_at: dt.datetime,
                 notification_id: int) -> Message:
    """One message for every alarm change collected in a batch window."""
    notes = sorted(notes, key=lambda n: (n.at, n.alarm_id))
    subject = f"{appliance}: {_batch_headline(notes)}"
    lines = [_batch_headline(notes) + ".", ""]
    for note in notes[:LISTED_AT_MOST]:
        lines.append(f"{_local(note.at, zone, '%H:%M:%S')}  {note.severity.upper():<8}  {note.change:<7}  {note.title}")
        if note.detail:
            lines.append(f"{'':30}{note.detail}")
    if len(notes) > LISTED_AT_MOST:
        lines.append(f"... and {len(notes) - LISTED_AT_MOST} more.")
    lines += ["", _footer(zone, notes[0].at if notes else created_at)]
    body = "\n".join(lines) + "\n"
    payload = _payload("alarms", notification_id, appliance, subject, body, created_at)
    payload["alarms"] = [n.as_json() for n in notes]
    return Message(subject, body, payload)


def _batch_headline(notes: list[AlarmNote]) -> str:
    if len(notes) == 1:
        note = notes[0]
        if note.change == "cleared":
            return f"cleared: {note.title}"
        return f"{note.severity.upper()}{' (update)' if note.change == 'updated' else ''}: {note.title}"
    changes = Counter(n.change for n in notes)
    parts = [f"{changes[c]} {c}" for c in ("raised", "updated", "cleared") if changes[c]]
    worst = max((n for n in notes if n.change != "cleared"), key=lambda n: severity_rank(n.severity), default=None)
    kinds = Counter(n.kind for n in notes)
    kind_text = ", ".join(f"{kind} x{count}" for kind, count in kinds.most_common(3))
    if len(kinds) > 3:
        kind_text += ", ..."
    worst_text = f", worst {worst.severity}" if worst else ""
    return f"{len(notes)} alarm changes ({', '.join(parts)}{worst_text}): {kind_text}"


def render_summary(alarms: list[SummaryAlarm], period_start: dt.datetime, now: dt.datetime,
                   zone: zoneinfo.ZoneInfo, appliance: str, notification_id: int) -> Message:
    """The daily summary: alarms open now, and those raised or cleared since `period_start`."""
    still_open = sorted((a for a in alarms if a.cleared_at is None),
                        key=lambda a: (-severity_rank(a.severity), a.raised_at, a.alarm_id))
    raised = [a for a in alarms if a.raised_at >= period_start]
    cleared = [a for a in alarms if a.cleared_at is not None and a.cleared_at >= period_start]
    by_severity = Counter(a.severity for a in still_open)
    open_text = (f"{len(still_open)} open alarm{'s' if len(still_open) != 1 else ''} ("
                 + ", ".join(f"{by_severity[s]} {s}" for s in reversed(SEVERITIES) if by_severity[s]) + ")"
                 if still_open else "no open alarms")
    day = _local(now, zone, "%d %b %Y")
    subject = f"{appliance}: daily summary {day}: {open_text}, {len(raised)} raised and {len(cleared)} cleared"
    lines = [f"Daily summary of {appliance} from {_local(period_start, zone, '%d %b %H:%M')} to "
             f"{_local(now, zone, '%d %b %H:%M')}.", "", f"Open now: {open_text}."]
    for a in still_open[:LISTED_AT_MOST]:
        ack = f" (acknowledged by {a.acknowledged_by})" if a.acknowledged_by else ""
        lines.append(f"  {a.severity.upper():<8}  since {_local(a.raised_at, zone, '%d %b %H:%M')}  {a.title}{ack}")
    lines += ["", f"Raised in the period: {len(raised)}; cleared in the period: {len(cleared)}."]
    for a in sorted(raised + [c for c in cleared if c not in raised], key=lambda a: (a.raised_at, a.alarm_id))[
            :LISTED_AT_MOST]:
        until = f"cleared {_local(a.cleared_at, zone, '%d %b %H:%M')}" if a.cleared_at else "still open"
        lines.append(f"  {a.severity.upper():<8}  {_local(a.raised_at, zone, '%d %b %H:%M')}, {until}  {a.title}")
    lines += ["", _footer(zone, now)]
    body = "\n".join(lines) + "\n"
    payload = _payload("daily_summary", notification_id, appliance, subject, body, now)
    payload["alarms"] = [_summary_json(a) for a in raised + [c for c in cleared if c not in raised]]
    payload["open_alarms"] = [_summary_json(a) for a in still_open]
    return Message(subject, body, payload)


def render_test(appliance: str, now: dt.datetime, zone: zoneinfo.ZoneInfo, asked_by: str) -> Message:
    subject = f"{appliance}: test message"
    body = (f"This is a test message from the depot charging appliance {appliance}, sent at "
            f"{_local(now, zone, '%d %b %Y %H:%M:%S %Z')} because {asked_by} asked for one "
            "('appliance notify test').\nAlarms will arrive here the same way.\n")
    return Message(subject, body, _payload("test", 0, appliance, subject, body, now))


def _summary_json(a: SummaryAlarm) -> dict[str, Any]:
    return {"alarm_id": a.alarm_id, "kind": a.kind, "severity": a.severity, "charger": a.identity,
            "title": a.title, "raised_at": _utc(a.raised_at),
            "cleared_at": _utc(a.cleared_at) if a.cleared_at else None,
            "acknowledged_by": a.acknowledged_by or None}


def _payload(kind: str, notification_id: int, appliance: str, subject: str, body: str,
             created_at: dt.datetime) -> dict[str, Any]:
    return {"type": kind, "id": str(notification_id), "appliance": appliance, "subject": subject, "text": body,
            "created_at": _utc(created_at), "alarms": []}


def _footer(zone: zoneinfo.ZoneInfo, at: dt.datetime) -> str:
    return (f"Times are in {zone.key} ({_local(at, zone, '%Z')}). The open alarms: the web UI's dashboard, "
            "or 'appliance alarm list' on the appliance.")


def _local(at: dt.datetime, zone: zoneinfo.ZoneInfo, form: str) -> str:
    return at.astimezone(zone).strftime(form)


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
