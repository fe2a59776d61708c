"""The actions tab's forms: one per ChargerLink command, each field read into the command's arguments
(core.commands checks them again against ChargerLink's signature), and the charger's answer put in
words for the page."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from appliance.core import link as lk
from appliance.core.users import UserGroupError, expiry_from_text
from appliance.web.ui.render import FormError, choice_field, number_field, text_field

TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
            "MeterValues", "StatusNotification")
PURPOSES = ("TxDefaultProfile", "ChargePointMaxProfile", "TxProfile")
LIST_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
REASON_MAX = 200


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, whole, number, choice, datetime
    required: bool = False
    choices: tuple[str, ...] = ()
    hint: str = ""
    minimum: float | None = None
    maximum: float | None = None
    default: str = ""


@dataclass(frozen=True)
class CommandForm:
    command: str
    title: str
    explain: str
    fields: tuple[Field, ...] = ()
    build: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # form values -> arguments; None: as they are
    confirm: str = ""  # asked in the browser before sending
    danger: bool = False


def _connector(required: bool = True, minimum: int = 1, default: str = "", hint: str = "") -> Field:
    return Field("connector_number", "Connector", "whole", required, minimum=minimum, default=default, hint=hint)


def _limit_arguments(v: dict[str, Any]) -> dict[str, Any]:
    limit = {k: v[k] for k in ("limit", "unit", "connector_number", "purpose", "stack_level", "profile_id",
                               "number_phases", "duration_s", "transaction_id") if v.get(k) is not None}
    return {"limit": limit}


def _remote_start_arguments(v: dict[str, Any]) -> dict[str, Any]:
    out = {"connector_number": v["connector_number"], "id_tag": v["id_tag"]}
    if v.get("limit_a") is not None:
        out["limit"] = {"limit": v["limit_a"], "unit": "A", "purpose": "TxProfile",
                        "connector_number": v["connector_number"]}
    return out


def _optional(*names: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda v: {n: v[n] for n in names if v.get(n) is not None}


FORMS: tuple[CommandForm, ...] = (
    CommandForm("remote_start", "Start charging", "Start a session on a connector for a tag, as if it had been "
                "shown at the charger.", (
                    _connector(default="1"), Field("id_tag", "Tag", required=True, hint="The tag to charge on"),
                    Field("limit_a", "Limit (A)", "number", minimum=0, hint="Optional: a charging limit for this "
                          "session")), _remote_start_arguments),
    CommandForm("remote_stop", "Stop charging", "Stop an open session.", (
        Field("transaction_id", "Session", "whole", True, minimum=1, hint="The session's number"),)),
    CommandForm("reset", "Reset", "Restart the charger: soft ends sessions first, hard reboots at once.", (
        Field("type", "Kind", "choice", True, ("soft", "hard"), default="soft"),),
                lambda v: {"hard": v["type"] == "hard"}, confirm="Reset this charger?", danger=True),
    CommandForm("unlock", "Unlock connector", "Release a cable stuck in the connector.", (_connector(),)),
    CommandForm("change_availability", "Change availability", "Take a connector (0: the whole charger) out of "
                "service, or back into it.", (
                    _connector(minimum=0, default="0", hint="0: the whole charger"),
                    Field("availability", "Availability", "choice", True, ("operative", "inoperative"),
                          default="inoperative")),
                lambda v: {"connector_number": v["connector_number"], "operative": v["availability"] == "operative"}),
    CommandForm("get_configuration", "Read configuration", "Ask the charger for its configuration keys.", (
        Field("keys", "Keys", hint="Optional: names separated by commas or spaces; empty: every key"),),
                lambda v: {"keys": v["keys"].replace(",", " ").split() if v.get("keys") else None}),
    CommandForm("change_configuration", "Change configuration", "Set one configuration key.", (
        Field("key", "Key", required=True), Field("value", "Value", required=True))),
    CommandForm("clear_cache", "Clear authorization cache", "The charger forgets the tags it remembered; it asks "
                "the appliance again (its local list stays)."),
    CommandForm("trigger_message", "Trigger a message", "Ask the charger to send a message now.", (
        Field("message", "Message", "choice", True, TRIGGERS, default="StatusNotification"),
        _connector(required=False, minimum=0, hint="Optional: for one connector")), _optional("message",
                                                                                              "connector_number")),
    CommandForm("send_local_list", "Send a local list by hand", "The appliance keeps every charger's list in step "
                "itself (Local list tab); a list sent by hand is replaced at the next sync.", (
                    Field("version", "List version", "whole", True, minimum=1),
                    Field("update", "Update", "choice", True, ("differential", "full"), default="differential"),
                    Field("entries", "Entries", "textarea", hint="One per line: TAG STATUS [EXPIRY DATE], status one "
                          f"of {', '.join(LIST_STATUSES)}, or TAG remove (differential)")),
                lambda v: {"version": v["version"], "full": v["update"] == "full", "entries": v["entries"]}),
    CommandForm("get_local_list_version", "Read local list version", "Ask which list version the charger holds."),
    CommandForm("set_charging_limit", "Set a charging limit", "Install a charging profile with one limit. Load "
                "management sets its own profiles on chargers in a circuit and may replace this one.", (
                    Field("limit", "Limit", "number", True, minimum=0),
                    Field("unit", "Unit", "choice", True, ("A", "W"), default="A"),
                    _connector(minimum=0, default="0", hint="0: the whole charger"),
                    Field("purpose", "Purpose", "choice", True, PURPOSES, default="TxDefaultProfile"),
                    Field("stack_level", "Stack level", "whole", True, minimum=0, default="0"),
                    Field("profile_id", "Profile id", "whole", True, minimum=1, default="1"),
                    Field("number_phases", "Phases", "whole", minimum=1, maximum=3, hint="Optional"),
                    Field("duration_s", "Duration (s)", "whole", minimum=1, hint="Optional: empty is open-ended"),
                    Field("transaction_id", "Session", "whole", minimum=1, hint="TxProfile: the session it is for")),
                _limit_arguments),
    CommandForm("clear_charging_limit", "Clear charging limits", "Remove charging profiles; every field narrows "
                "which (all empty: every profile).", (
                    Field("profile_id", "Profile id", "whole", minimum=1),
                    _connector(required=False, minimum=0),
                    Field("purpose", "Purpose", "choice", choices=PURPOSES),
                    Field("stack_level", "Stack level", "whole", minimum=0)),
                _optional("profile_id", "connector_number", "purpose", "stack_level")),
    CommandForm("get_composite_schedule", "Read composite schedule", "What limit the charger will apply, all its "
                "profiles together.", (
                    _connector(minimum=0, default="0", hint="0: the whole charger"),
                    Field("duration_s", "Duration (s)", "whole", True, minimum=1, default="3600"),
                    Field("unit", "Unit", "choice", choices=("A", "W"))),
                _optional("connector_number", "duration_s", "unit")),
    CommandForm("get_charging_profiles", "Read charging profiles", "The profiles the charger has installed "
                "(OCPP 2.0.1).", (
                    _connector(required=False, minimum=0, hint="Optional: the EVSE"),
                    Field("purpose", "Purpose", "choice", choices=PURPOSES),
                    Field("profile_id", "Profile id", "whole", minimum=1),
                    Field("stack_level", "Stack level", "whole", minimum=0)),
                _optional("connector_number", "purpose", "profile_id", "stack_level")),
    CommandForm("get_diagnostics", "Upload diagnostics", "Ask the charger to upload its diagnostics (logs) to a "
                "server.", (
                    Field("location", "Upload to", required=True, hint="A URL the charger can reach, e.g. "
                          "ftp://user:password@server/path/"),
                    Field("start", "From", "datetime", hint="Optional, depot time"),
                    Field("stop", "Until", "datetime", hint="Optional, depot time"),
                    Field("retries", "Retries", "whole", minimum=0),
                    Field("retry_interval_s", "Retry interval (s)", "whole", minimum=0)),
                _optional("location", "start", "stop", "retries", "retry_interval_s")),
    CommandForm("update_firmware", "Update firmware", "The charger downloads the firmware and installs it "
                "(it restarts).", (
                    Field("location", "Firmware URL", required=True),
                    Field("retrieve_at", "Download at", "datetime", hint="Depot time; empty: now"),
                    Field("retries", "Retries", "whole", minimum=0),
                    Field("retry_interval_s", "Retry interval (s)", "whole", minimum=0)),
                lambda v: {"retrieve_at": v.get("retrieve_at") or dt.datetime.now(dt.timezone.utc),
                           **_optional("location", "retries", "retry_interval_s")(v)},
                confirm="Update this charger's firmware? It restarts to install it.", danger=True),
    CommandForm("reserve_now", "Reserve", "Hold a connector for one tag until a time.", (
        _connector(minimum=0, default="1", hint="0: any connector"),
        Field("id_tag", "Tag", required=True),
        Field("expires_at", "Until", "datetime", True, hint="Depot time"),
        Field("reservation_id", "Reservation number", "whole", True, minimum=1),
        Field("parent_id_tag", "Parent tag", hint="Optional")),
                _optional("connector_number", "id_tag", "expires_at", "reservation_id", "parent_id_tag")),
    CommandForm("cancel_reservation", "Cancel reservation", "End a reservation.", (
        Field("reservation_id", "Reservation number", "whole", True, minimum=1),)),
    CommandForm("data_transfer", "Data transfer", "Send a vendor-specific message.", (
        Field("vendor_id", "Vendor id", required=True), Field("message_id", "Message id"),
        Field("data", "Data", "textarea")), _optional("vendor_id", "message_id", "data")),
)
BY_COMMAND = {f.command: f for f in FORMS}


def read_command(form_spec: CommandForm, form, zone) -> tuple[dict[str, Any], str]:
    """(the command's arguments, the reason) from a posted form; FormError names the bad field."""
    values = {f.name: read_field(f, form, zone) for f in form_spec.fields}
    reason = text_field(form, "reason", "Reason", required=True, max_length=REASON_MAX)
    if form_spec.command == "send_local_list":
        values["entries"] = read_entries(values.get("entries") or "", values["update"] == "full", zone)
    arguments = form_spec.build(values) if form_spec.build else {k: v for k, v in values.items() if v is not None}
    return arguments, reason


def read_field(f: Field, form, zone) -> Any:
    if f.kind in ("whole", "number"):
        return number_field(form, f.name, f.label, f.required, f.minimum, f.maximum, whole=f.kind == "whole")
    if f.kind == "choice":
        return choice_field(form, f.name, f.label, f.choices, f.required) or None
    if f.kind == "datetime":
        return read_time(form, f, zone)
    value = text_field(form, f.name, f.label, f.required, 5000 if f.kind == "textarea" else 500)
    return value or None


def read_time(form, f: Field, zone) -> dt.datetime | None:
    """A browser's datetime-local value (YYYY-MM-DDTHH:MM), meant in the depot's time zone, as UTC."""
    raw = str(form.get(f.name, "")).strip()
    if not raw:
        if f.required:
            raise FormError(f"{f.label}: please fill this in", f.name)
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        raise FormError(f"{f.label}: {raw!r} is not a date and time (YYYY-MM-DD HH:MM)", f.name) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.timezone.utc)


def read_entries(text: str, full: bool, zone) -> list[dict[str, Any]]:
    """Local list entries typed one per line: TAG STATUS [EXPIRY] or TAG remove."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) == 2 and words[1].lower() == "remove" and not full:
            entries.append({"id_tag": words[0], "status": None})
            continue
        status = next((s for s in LIST_STATUSES if len(words) > 1 and s.lower() == words[1].lower()), None)
        if status is None or len(words) > 3:
            raise FormError(f"Entries, line {number}: write TAG STATUS [EXPIRY DATE] with a status of "
                            f"{', '.join(LIST_STATUSES)}{'' if full else ', or TAG remove'}", "entries")
        try:
            expires = expiry_from_text(words[2], zone) if len(words) == 3 else None
        except UserGroupError as e:
            raise FormError(f"Entries, line {number}: {e}", "entries") from None
        entries.append({"id_tag": words[0], "status": status, "expires_at": expires})
    if not entries and not full:
        raise FormError("Entries: a differential update needs at least one line", "entries")
    return entries


@dataclass(frozen=True)
class Outcome:
    """A command's answer as the page says it."""

    command: str
    title: str
    status: str
    kind: str  # ok, warning, error: how the message looks
    headline: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def data_text(self) -> str:
        return json.dumps(self.data, indent=2, default=str, ensure_ascii=False) if self.data else ""


def outcome(identity: str, form_spec: CommandForm, result: lk.CommandResult) -> Outcome:
    status, detail = result.status, result.detail
    if result.ok:
        kind, headline = "ok", f"{identity} answered {status}."
    elif status == lk.NOT_SUPPORTED:
        kind, headline = "warning", f"Not supported by this charger: {form_spec.title.lower()} is not something " \
                                    f"{identity}'s protocol can carry."
    elif status == lk.OFFLINE:
        kind, headline = "error", f"{identity} is not connected: nothing was sent."
    elif status == lk.TIMEOUT:
        kind, headline = "error", f"{identity} did not answer in time; it may or may not have done it."
    elif status == lk.CALL_ERROR:
        kind, headline = "error", f"{identity} answered with an error."
    elif status == lk.ERROR:
        kind, headline = "error", "The appliance could not send the command; its log has the details."
    else:
        kind, headline = "warning", f"{identity} answered {status}: it did not do it."
    return Outcome(form_spec.command, form_spec.title, status, kind, headline, detail, dict(result.data))
