"""When an alarm should be open, decided from plain values (the clock included): no I/O here.

Each rule returns the alarms its condition wants open now (`Wanted`); the alarm service
(core/alarms.py) raises those, updates them when their words change, and clears the open alarms of
the same kinds that are no longer wanted. So a condition that went away while the appliance was
down is cleared at the first look after it starts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)

CHARGER_OFFLINE = "charger_offline"
CHARGER_OFFLINE_LONG_TERM = "charger_offline_long_term"
CONNECTOR_FAULTED = "connector_faulted"
CONNECTOR_UNAVAILABLE = "connector_unavailable"
TRANSACTION_STUCK = "transaction_stuck"
PROFILE_IGNORED = "profile_ignored"
LOCAL_LIST_OUT_OF_SYNC = "local_list_out_of_sync"
HEAD_OFFICE_SYNC_FAILING = "head_office_sync_failing"
DISK_FILLING = "disk_filling"
READER_UNPLUGGED = "reader_unplugged"
INSPECTION_DUE = "inspection_due"

KINDS = (CHARGER_OFFLINE, CHARGER_OFFLINE_LONG_TERM, CONNECTOR_FAULTED, CONNECTOR_UNAVAILABLE, TRANSACTION_STUCK,
         PROFILE_IGNORED, LOCAL_LIST_OUT_OF_SYNC, HEAD_OFFICE_SYNC_FAILING, DISK_FILLING, READER_UNPLUGGED,
         INSPECTION_DUE)


@dataclass(frozen=True)
class Wanted:
    """An alarm a rule wants open. `identity` '' is the appliance itself; `connector` 0 the whole
    charger. For a reader, `identity` is '' and `connector` its number: its device is in the title."""

    kind: str
    severity: str
    identity: str
    connector: int
    title: str
    detail: str = ""

    @property
    def key(self) -> tuple[str, str, int]:
        return self.kind, self.identity, self.connector


def duration(seconds: float) -> str:
    """A duration for people: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def offline(identity: str, state: str, last_heard_at: dt.datetime | None, now: dt.datetime, up_s: float,
            offline_after_s: float) -> list[Wanted]:
    """A charger out of contact for offline_after_s is offline; one the supervision has called
    unavailable (long-term) is offline long-term too.

    `last_heard_at` None: never heard, a charger not installed yet: no alarm. `up_s` is how long the
    appliance has been running: after a restart the chargers get offline_after_s to reconnect before
    an alarm is raised, however long the appliance itself was down. The words name the time last
    heard, not a running duration, so that an open alarm does not change at every look."""
    if state == "online" or last_heard_at is None:
        return []
    if min((now - last_heard_at).total_seconds(), up_s) < offline_after_s:
        return []
    since = f"since {last_heard_at:%Y-%m-%d %H:%M:%S} UTC"
    wanted = [Wanted(CHARGER_OFFLINE, WARNING, identity, 0, f"{identity} is offline",
                     f"nothing heard from it {since}. Check its power and network, and that its OCPP address "
                     "points at this appliance.")]
    if state == "unavailable":
        wanted.append(Wanted(CHARGER_OFFLINE_LONG_TERM, CRITICAL, identity, 0, f"{identity} is offline long-term",
                             f"nothing heard from it {since}: it cannot charge and has not come back by itself. "
                             "Someone must look at it on site."))
    return wanted


def faulted(identity: str, connector: int, status: str, error_code: str, info: str,
            vendor_error_code: str) -> Wanted | None:
    """A connector (0: the charger as a whole) that reports Faulted, with what the charger says of it."""
    if status != "Faulted":
        return None
    where = f" connector {connector}" if connector else ""
    said = ", ".join(part for part in (
        f"error {error_code}" if error_code and error_code != "NoError" else "",
        f"vendor code {vendor_error_code}" if vendor_error_code else "", f"“{info}”" if info else "") if part)
    return Wanted(CONNECTOR_FAULTED, CRITICAL, identity, connector,
                  f"{identity}{where} is faulted" + (f" ({error_code})" if error_code not in ("", "NoError") else ""),
                  f"it reported Faulted{f': {said}' if said else ''}. It cannot charge until the fault is gone; "
                  "the manufacturer's manual explains the code.")


def unavailable(identity: str, connector: int, status: str, for_s: float, after_s: float) -> Wanted | None:
    """A connector stuck Unavailable for `after_s` (auto-recovery's other trigger)."""
    if status != "Unavailable" or connector == 0 or for_s < after_s:
        return None
    return Wanted(CONNECTOR_UNAVAILABLE, WARNING, identity, connector,
                  f"{identity} connector {connector} is unavailable",
                  f"it has reported Unavailable for {duration(for_s)}; nobody can charge there.")


def stuck(identity: str, connector: int, transaction_id: int, silent_for_s: float) -> Wanted:
    return Wanted(TRANSACTION_STUCK, WARNING, identity, connector,
                  f"{identity} connector {connector}: session {transaction_id} was stuck",
                  f"nothing heard of session {transaction_id} for {duration(silent_for_s)}: it was finished at its "
                  "last meter reading. Check the charger's meter values and the session's energy.")


def profile_ignored(identity: str, evse: int, summary: str, rejects: bool) -> Wanted:
    """Load management flagged an EVSE (kept where a connector would be) as ignoring its limits, or
    refusing them."""
    what = "refuses" if rejects else "ignores"
    return Wanted(PROFILE_IGNORED, WARNING, identity, evse, f"{identity} EVSE {evse} {what} its charging limits",
                  f"load management: {summary}. It is counted at its maximum, which leaves less for the other "
                  "chargers on its circuit. Update its firmware or check its smart-charging settings, then clear "
                  "the flag on the load management page.")


def local_list(identity: str, error: str, online: bool) -> Wanted | None:
    """A connected charger whose local list the appliance could not bring in step (an offline one
    cannot take it, and has an alarm of its own)."""
    if not error or not online:
        return None
    return Wanted(LOCAL_LIST_OUT_OF_SYNC, WARNING, identity, 0, f"{identity}'s local list is out of step",
                  f"the last attempt failed: {error}. While the charger is offline, drivers whose tags changed may "
                  "be refused or let in wrongly; the appliance tries again on every change and boot.")


def head_office(failing_since: dt.datetime | None, now: dt.datetime, after_s: float, last_error: str) -> Wanted | None:
    if failing_since is None or (now - failing_since).total_seconds() < after_s:
        return None
    return Wanted(HEAD_OFFICE_SYNC_FAILING, WARNING, "", 0, "head office has not taken the charge records",
                  f"failing since {failing_since:%Y-%m-%d %H:%M} UTC (last: {last_error}). Nothing is lost: the "
                  "records wait here. Check the internet connection and head office's address and token.")


def disk(full: bool, free_bytes: int, total_bytes: int, free_percent_min: float) -> Wanted | None:
    if full:
        return Wanted(DISK_FILLING, CRITICAL, "", 0, "the disk is full: the appliance cannot store",
                      "chargers are answered with errors and keep their messages. Free space on the data "
                      "directory's disk now.")
    if total_bytes <= 0 or 100.0 * free_bytes / total_bytes >= free_percent_min:
        return None
    return Wanted(DISK_FILLING, WARNING, "", 0, "the disk is filling",
                  f"less than {free_percent_min:g} % of the data directory's disk ({total_bytes / 2**30:.1f} GB) is "
                  "free. Free space before it is full: old backups, exports, or a smaller communication log "
                  "(commlog_max_mb).")


def reader(number: int, device: str, state: str, detail: str) -> Wanted | None:
    """The server's `number`th RFID reader (1-based, in the order of the setting rfid_readers; kept
    where a charger's connector would be) unplugged."""
    if state != "unplugged":
        return None
    return Wanted(READER_UNPLUGGED, WARNING, "", number, f"RFID reader {device} is unplugged",
                  f"{detail}. Cards cannot be enrolled with it until it is plugged in again.")


def next_inspection(installed_on: dt.date | None, last_inspection_on: dt.date | None,
                    interval_days: int) -> dt.date | None:
    """The next periodic inspection: an interval after the last one, or after installation; None when
    neither is known (or the interval is 0: no periodic inspection)."""
    since = last_inspection_on or installed_on
    if since is None or interval_days <= 0:
        return None
    return since + dt.timedelta(days=interval_days)


def inspection(identity: str, due: dt.date | None, today: dt.date, lead_days: int) -> Wanted | None:
    if due is None or (due - today).days > lead_days:
        return None
    days = (due - today).days
    when = f"overdue by {-days} days" if days < 0 else "due today" if days == 0 else f"due in {days} days"
    return Wanted(INSPECTION_DUE, WARNING if days < 0 else INFO, identity, 0,
                  f"{identity}: periodic inspection {when}",
                  f"due on {due.isoformat()}. Record it when done: appliance charger note {identity} --inspection "
                  "\"what was done\" (or on the charger's maintenance tab).")
