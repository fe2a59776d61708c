"""The alarm rules and auto-recovery's steps, pure: a table per rule, properties for the invariants."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config import load_settings
from appliance.core import alarm_rules as rules
from appliance.core import recovery_steps as steps
from appliance.core.recovery_steps import Situation, Stop

NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.timezone.utc)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("state, last_heard_s, up_s, kinds", [
    ("online", 1000, 1000, []),
    ("temporarily_unavailable", 50, 1000, []),  # a dropped connection gets offline_after_s to come back
    ("temporarily_unavailable", 120, 1000, ["charger_offline"]),
    ("unavailable", 400, 1000, ["charger_offline", "charger_offline_long_term"]),
    ("unavailable", 99999, 30, []),  # the appliance itself just started: the chargers get time to reconnect
    ("unavailable", 99999, 120, ["charger_offline", "charger_offline_long_term"]),
    ("unavailable", None, 1000, []),  # never heard from: not installed yet, nothing to miss
])
def test_offline(state, last_heard_s, up_s, kinds):
    heard = None if last_heard_s is None else ago(last_heard_s)
    assert [w.kind for w in rules.offline("CP1", state, heard, NOW, up_s, 120)] == kinds


def test_offline_words_do_not_change_while_it_stays_offline():
    # An open alarm whose words changed at every look would be updated (and notified) at every look.
    first = rules.offline("CP1", "unavailable", ago(400), NOW, 1000, 120)
    later = rules.offline("CP1", "unavailable", ago(400), NOW + dt.timedelta(hours=2), 1000, 120)
    assert first == later
    assert [w.severity for w in first] == ["warning", "critical"]


@pytest.mark.parametrize("status, error, info, vendor, expected", [
    ("Available", "NoError", "", "", None),
    ("Faulted", "GroundFailure", "RCD tripped", "E42", ("critical", "CP1 connector 2 is faulted (GroundFailure)",
                                                          ["error GroundFailure", "vendor code E42", "RCD tripped"])),
    ("Faulted", "NoError", "", "", ("critical", "CP1 connector 2 is faulted", [])),
    ("Unavailable", "InternalError", "", "", None),  # an error code without Faulted is no fault alarm
])
def test_faulted(status, error, info, vendor, expected):
    found = rules.faulted("CP1", 2, status, error, info, vendor)
    if expected is None:
        assert found is None
        return
    severity, title, in_detail = expected
    assert (found.kind, found.severity, found.title, found.key) == ("connector_faulted", severity, title,
                                                                   ("connector_faulted", "CP1", 2))
    assert all(part in found.detail for part in in_detail)


def test_a_fault_of_the_whole_charger_says_so():
    assert rules.faulted("CP1", 0, "Faulted", "OtherError", "", "").title == "CP1 is faulted (OtherError)"


@pytest.mark.parametrize("status, connector, for_s, raised", [
    ("Unavailable", 1, 600, True),
    ("Unavailable", 1, 599, False),
    ("Unavailable", 0, 9999, False),  # the charger as a whole: its connectors say what matters
    ("Available", 1, 9999, False),
])
def test_unavailable(status, connector, for_s, raised):
    assert (rules.unavailable("CP1", connector, status, for_s, 600) is not None) == raised


@pytest.mark.parametrize("failing_for_s, raised", [(None, False), (3599, False), (3600, True)])
def test_head_office(failing_for_s, raised):
    since = None if failing_for_s is None else ago(failing_for_s)
    assert (rules.head_office(since, NOW, 3600, "timeout") is not None) == raised


@pytest.mark.parametrize("full, free, total, severity", [
    (False, 50, 100, None),
    (False, 10, 100, None),  # exactly at the threshold: not yet
    (False, 9, 100, "warning"),
    (True, 50, 100, "critical"),  # the writer said full (a size limit, say), whatever df says
    (False, 0, 0, None),  # no figures (statvfs failed): no guess
])
def test_disk(full, free, total, severity):
    found = rules.disk(full, free, total, 10.0)
    assert (found.severity if found else None) == severity


@pytest.mark.parametrize("error, online, raised", [
    ("", True, False), ("SendLocalList version 3: Failed", True, True),
    ("GetLocalListVersion: Offline", False, False),  # offline: its own alarm says it
])
def test_local_list(error, online, raised):
    assert (rules.local_list("CP1", error, online) is not None) == raised


def test_reader():
    assert rules.reader(1, "/dev/ttyUSB0", "connected", "") is None
    found = rules.reader(2, "/dev/ttyUSB1", "unplugged", "/dev/ttyUSB1: gone")
    assert found.key == ("reader_unplugged", "", 2) and "/dev/ttyUSB1" in found.title


@pytest.mark.parametrize("installed, last, interval, due", [
    (None, None, 365, None),
    (dt.date(2025, 1, 10), None, 365, dt.date(2026, 1, 10)),
    (dt.date(2025, 1, 10), dt.date(2026, 6, 1), 180, dt.date(2026, 11, 28)),  # the last inspection counts
    (dt.date(2025, 1, 10), None, 0, None),  # no periodic inspection
])
def test_next_inspection(installed, last, interval, due):
    assert rules.next_inspection(installed, last, interval) == due


@pytest.mark.parametrize("due, lead_days, severity, words", [
    (dt.date(2026, 12, 31), 14, None, ""),
    (dt.date(2026, 12, 5), 14, "info", "due in 14 days"),
    (dt.date(2026, 11, 21), 14, "info", "due today"),
    (dt.date(2026, 11, 1), 14, "warning", "overdue by 20 days"),
])
def test_inspection(due, lead_days, severity, words):
    found = rules.inspection("CP1", due, dt.date(2026, 11, 21), lead_days)
    assert (found.severity if found else None) == severity
    assert words in (found.title if found else "")


@pytest.mark.parametrize("seconds, text", [(45, "45 s"), (600, "10 min"), (3 * 3600 + 300, "3 h 5 min"),
                                           (50 * 3600, "2 d 2 h")])
def test_duration(seconds, text):
    assert rules.duration(seconds) == text


# -- auto-recovery's steps -------------------------------------------------------------------------

def situation(**changes) -> Situation:
    base = dict(enabled=True, recovered=False, session_running=False, runs_today=0, per_day=3, done=())
    return Situation(**{**base, **changes})


@pytest.mark.parametrize("changes, expected", [
    ({}, "trigger"),
    ({"done": ("trigger",)}, "soft_reset"),
    ({"done": ("trigger", "soft_reset")}, "hard_reset"),
    ({"done": ("trigger", "soft_reset", "hard_reset")}, "gave_up"),
    ({"recovered": True, "done": ("trigger", "soft_reset")}, "recovered"),
    ({"enabled": False}, "off"),
    ({"session_running": True}, "busy"),  # never a reset that would end a session
    ({"made_inoperative": True}, "inoperative"),  # unavailable on purpose
    ({"runs_today": 3}, "limit"),
    ({"runs_today": 3, "done": ("trigger",)}, "soft_reset"),  # the run that began counts itself: it goes on
])
def test_next_step(changes, expected):
    found = steps.next_step(situation(**changes))
    assert (found.outcome if isinstance(found, Stop) else found) == expected


@pytest.mark.parametrize("log, inoperative", [
    ([], False),
    ([("change_availability", {"connector_number": 1, "operative": False}, "Accepted")], True),
    ([("change_availability", {"connector_number": 0, "operative": False}, "Scheduled")], True),  # the whole charger
    ([("change_availability", {"connector_number": 2, "operative": False}, "Accepted")], False),  # another connector
    ([("change_availability", {"connector_number": 1, "operative": False}, "Rejected")], False),  # not taken
    ([("change_availability", {"connector_number": 1, "operative": True}, "Accepted"),  # most recent first
      ("change_availability", {"connector_number": 1, "operative": False}, "Accepted")], False),
    ([("reset", {"hard": False}, "Accepted"),
      ("change_availability", {"connector_number": 1, "operative": False}, "Accepted")], True),
])
def test_made_inoperative(log, inoperative):
    assert steps.made_inoperative(log, 1) == inoperative


def test_steps_are_the_commands_of_the_charger_link():
    assert steps.command("trigger", 2) == ("trigger_message", {"message": "StatusNotification", "connector_number": 2})
    assert steps.command("soft_reset", 2) == ("reset", {"hard": False})
    assert steps.command("hard_reset", 2) == ("reset", {"hard": True})
    assert [steps.wait_after(s, 60, 300) for s in steps.STEPS] == [60, 300, 300]


@given(st.booleans(), st.booleans(), st.booleans(), st.integers(0, 10), st.integers(0, 10),
       st.lists(st.sampled_from(steps.STEPS), max_size=3, unique=True))
def test_no_step_while_a_session_runs_or_after_recovery_and_never_a_fourth(enabled, recovered, busy, runs, per_day,
                                                                            done):
    found = steps.next_step(Situation(enabled, recovered, busy, runs, per_day, tuple(done)))
    if busy or recovered or not enabled or len(done) == 3:
        assert isinstance(found, Stop)
    if not isinstance(found, Stop):
        assert found == steps.STEPS[len(done)]


# -- the renamed supervision settings ----------------------------------------------------------------

@pytest.mark.parametrize("given_settings, expected", [
    ({}, (120.0, 300.0)),
    ({"temporarily_unavailable_after_s": "30", "unavailable_after_s": "90"}, (30.0, 90.0)),  # old names still work
    ({"temporarily_unavailable_after_s": "30", "offline_after_s": "45"}, (45.0, 300.0)),  # the new name wins
    ({"offline_after_s": "10", "offline_long_term_after_s": "20"}, (10.0, 20.0)),
])
def test_offline_settings_and_their_old_names(tmp_path, given_settings, expected):
    environ = {f"APPLIANCE_{k.upper()}": v for k, v in given_settings.items()}
    s = load_settings({"data_dir": tmp_path}, environ=environ)
    assert (s.offline_after_s, s.offline_long_term_after_s) == expected
