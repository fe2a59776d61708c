"""Auto-recovery's next step, decided from plain values: no I/O here (core/recovery.py acts on it).

The order is the one cloud systems' operator manuals give: ask the charger for the connector's
status (a stale Faulted clears itself that way), then a soft reset, then a hard reset, with a
wait after each for the connector to come back. Never while a session runs on the charger (a reset
would end it), and no more runs a day than the setting allows (a charger that faults again and
again needs a person, not a reset an hour).
"""

from __future__ import annotations

from dataclasses import dataclass

TRIGGER, SOFT_RESET, HARD_RESET = "trigger", "soft_reset", "hard_reset"
STEPS = (TRIGGER, SOFT_RESET, HARD_RESET)


@dataclass(frozen=True)
class Stop:
    """No further step; `reason` says why in words for the alarm, `outcome` in one word."""

    outcome: str  # recovered, off, inoperative, busy, limit, gave_up
    reason: str


@dataclass(frozen=True)
class Situation:
    enabled: bool  # the charger has auto-recovery on
    recovered: bool  # the connector reports well again
    session_running: bool  # a session runs on the charger
    runs_today: int  # runs begun in the last 24 hours, this one included once it has begun
    per_day: int  # the setting auto_recovery_per_day
    done: tuple[str, ...]  # steps taken in this run, in order
    made_inoperative: bool = False  # staff's last availability command made the connector (or charger) Inoperative


def next_step(s: Situation) -> str | Stop:
    if s.recovered:
        return Stop("recovered", "the connector reports well again" + (
            f" after the {s.done[-1].replace('_', ' ')}" if s.done else ""))
    if not s.enabled:
        return Stop("off", "auto-recovery is off for this charger")
    if s.made_inoperative:
        return Stop("inoperative", "not tried: staff made it Inoperative (change availability); it is unavailable "
                                   "on purpose")
    if s.session_running:
        return Stop("busy", "not tried further: a session is running on the charger (a reset would end it)")
    if not s.done and s.runs_today >= s.per_day:
        return Stop("limit", f"not tried: the charger had {s.runs_today} auto-recovery runs in the last 24 hours, "
                             f"the most allowed (auto_recovery_per_day); someone must look at it")
    if len(s.done) >= len(STEPS):
        return Stop("gave_up", "status trigger, soft reset and hard reset did not bring the connector back; "
                               "someone must look at it on site")
    return STEPS[len(s.done)]


def made_inoperative(commands: list[tuple[str, dict, str]], connector: int) -> bool:
    """Whether the last availability command that the charger took, for this connector or the whole
    charger, made it Inoperative. `commands`: (action, arguments, result status), most recent first,
    from the action log."""
    for action, arguments, status in commands:
        if action == "change_availability" and status in ("Accepted", "Scheduled") and \
                arguments.get("connector_number") in (0, connector):
            return arguments.get("operative") is False
    return False


def command(step: str, connector: int) -> tuple[str, dict]:
    """The ChargerLink command (and its arguments) that takes a step."""
    if step == TRIGGER:
        return "trigger_message", {"message": "StatusNotification", "connector_number": connector or None}
    return "reset", {"hard": step == HARD_RESET}


def wait_after(step: str, trigger_wait_s: float, reset_wait_s: float) -> float:
    """How long the connector gets to come back after a step before the next one."""
    return trigger_wait_s if step == TRIGGER else reset_wait_s
