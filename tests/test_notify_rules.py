"""The pure parts of notifications: who gets what (rules), how many alarms make one message and what
it says (render), when the daily summary and the retries go (schedule), the mail server's URL."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, strategies as st

from appliance.notify import rules, schedule
from appliance.notify.render import AlarmNote, SummaryAlarm, render_batch, render_summary
from appliance.notify.rules import Recipient, RuleError
from appliance.notify.senders import parse_smtp_url

UTC = dt.timezone.utc
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
T0 = dt.datetime(2026, 11, 21, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, channel, expected", [
    ("ops@depot.example", "email", [Recipient("ops@depot.example")]),
    ("a@x.example, b@x.example", "email", [Recipient("a@x.example"), Recipient("b@x.example")]),
    ("a@x.example b@x.example", "email", [Recipient("a@x.example"), Recipient("b@x.example")]),  # spaces do too
    ("boss@x.example;severity=critical", "email", [Recipient("boss@x.example", "critical")]),
    ("t@x.example;kinds=connector_faulted+charger_offline", "email",
     [Recipient("t@x.example", "warning", frozenset({"connector_faulted", "charger_offline"}))]),
    ("https://hooks.example/a?key=1;severity=info", "webhook", [Recipient("https://hooks.example/a?key=1", "info")]),
    ("", "email", []),
])
def test_recipients_parse(text, channel, expected):
    assert rules.parse_recipients(text, channel) == expected


@pytest.mark.parametrize("text, channel, says", [
    ("not-an-address", "email", "is not an e-mail address"),
    ("https://hooks.example/a", "email", "is not an e-mail address"),  # a webhook among the e-mail recipients
    ("ops@depot.example", "webhook", "is not a webhook URL"),
    ("ftp://hooks.example/a", "webhook", "is not a webhook URL"),
    ("ops@depot.example;severity=urgent", "email", "severity must be one of info, warning, critical"),
    ("ops@depot.example;kinds=conector_faulted", "email", "unknown alarm kind(s) conector_faulted"),
    ("ops@depot.example;level=info", "email", "unknown option 'level'"),
])
def test_bad_recipients_say_what_is_wrong(text, channel, says):
    with pytest.raises(RuleError, match=None) as caught:
        rules.parse_recipients(text, channel)
    assert says in str(caught.value)


@pytest.mark.parametrize("recipient, kind, severity, wanted", [
    (Recipient("a@x.example"), "charger_offline", "warning", True),
    (Recipient("a@x.example"), "inspection_due", "info", False),  # default: warning and worse
    (Recipient("a@x.example", "info"), "inspection_due", "info", True),
    (Recipient("a@x.example", "critical"), "connector_faulted", "warning", False),
    (Recipient("a@x.example", "critical"), "connector_faulted", "critical", True),
    (Recipient("a@x.example", "info", frozenset({"connector_faulted"})), "charger_offline", "critical", False),
    (Recipient("a@x.example", "info", frozenset({"connector_faulted"})), "connector_faulted", "info", True),
    (Recipient("a@x.example", "critical"), "disk_filling", "dire", True),  # an unknown severity counts as critical
])
def test_recipient_wants_its_kinds_at_its_severity_and_worse(recipient, kind, severity, wanted):
    assert recipient.wants(kind, severity) is wanted


def test_a_filter_given_beside_recipients_leaves_their_own_alone():
    given_ = [Recipient("a@x.example"), Recipient("b@x.example", "info", frozenset({"disk_filling"}))]
    assert rules.with_filter(given_, "critical", frozenset({"charger_offline"})) == [
        Recipient("a@x.example", "critical", frozenset({"charger_offline"})),
        Recipient("b@x.example", "info", frozenset({"disk_filling"}))]


@given(st.sampled_from(["ops@depot.example", "https://hooks.example/x?k=1"]), st.sampled_from(rules.SEVERITIES),
       st.frozensets(st.sampled_from(rules.KINDS)))
def test_a_recipient_written_out_parses_back_to_itself(target, severity, kinds):
    recipient = Recipient(target, severity, kinds)
    assert rules.parse_recipients(rules.write_recipients([recipient]), recipient.channel) == [recipient]


def note(i: int, change: str = "raised", kind: str = "charger_offline", severity: str = "warning") -> AlarmNote:
    return AlarmNote(i, kind, severity, f"CP{i}", f"Charger CP{i} is offline", "", change,
                     T0 + dt.timedelta(seconds=i))


def test_a_depot_wide_outage_is_one_message_naming_every_charger():
    notes = [note(i) for i in range(200)] + [note(500, kind="connector_faulted", severity="critical")]
    message = render_batch(notes, BERLIN, "depot-7", T0, 42)
    assert message.subject == ("depot-7: 201 alarm changes (201 raised, worst critical): charger_offline x200, "
                               "connector_faulted x1")
    assert all(f"Charger CP{i} is offline" in message.body for i in range(200))
    assert len(message.payload["alarms"]) == 201 and message.payload["id"] == "42"


@pytest.mark.parametrize("notes, subject", [
    ([note(1, severity="critical")], "depot-7: CRITICAL: Charger CP1 is offline"),
    ([note(1, "cleared")], "depot-7: cleared: Charger CP1 is offline"),
    ([note(1, "updated")], "depot-7: WARNING (update): Charger CP1 is offline"),
    ([note(1), note(2, "cleared")],
     "depot-7: 2 alarm changes (1 raised, 1 cleared, worst warning): charger_offline x2"),
    ([note(1, "cleared"), note(2, "cleared")], "depot-7: 2 alarm changes (2 cleared): charger_offline x2"),
])
def test_subject_says_what_happened(notes, subject):
    assert render_batch(notes, BERLIN, "depot-7", T0, 1).subject == subject


def test_times_are_shown_in_the_depots_zone_and_sent_in_utc():
    message = render_batch([note(0)], BERLIN, "depot-7", T0, 1)
    assert "23:00:00" in message.body and "Europe/Berlin" in message.body  # 22:00 UTC is 23:00 in Berlin in November
    assert message.payload["alarms"][0]["at"] == "2026-11-21T22:00:00Z"


def summary_alarm(i: int, raised_h: float, cleared_h: float | None, severity: str = "warning") -> SummaryAlarm:
    cleared_at = None if cleared_h is None else T0 - dt.timedelta(hours=cleared_h)
    return SummaryAlarm(i, "charger_offline", severity, f"CP{i}", f"Charger CP{i} is offline",
                        T0 - dt.timedelta(hours=raised_h), cleared_at)


@pytest.mark.parametrize("alarms, headline", [
    ([], "no open alarms, 0 raised and 0 cleared"),
    ([summary_alarm(1, 2, None, "critical"), summary_alarm(2, 30, None)],
     "2 open alarms (1 critical, 1 warning), 1 raised and 0 cleared"),  # one still open from before the period
    ([summary_alarm(1, 5, 4)], "no open alarms, 1 raised and 1 cleared"),
    ([summary_alarm(1, 30, 4)], "no open alarms, 0 raised and 1 cleared"),
])
def test_daily_summary_counts_open_raised_and_cleared(alarms, headline):
    message = render_summary(alarms, T0 - dt.timedelta(days=1), T0, BERLIN, "depot-7", 9)
    assert message.subject == f"depot-7: daily summary 21 Nov 2026: {headline}"
    assert len(message.payload["open_alarms"]) == sum(a.cleared_at is None for a in alarms)


@pytest.mark.parametrize("now, at, day, instant", [
    # 06:30 in Berlin is 05:30 UTC in winter
    ("2026-11-21T05:30:00+00:00", "06:30", "2026-11-21", "2026-11-21T05:30:00+00:00"),
    ("2026-11-21T05:29:59+00:00", "06:30", "2026-11-20", "2026-11-20T05:30:00+00:00"),  # not yet: yesterday's
    ("2026-11-21T23:30:00+00:00", "00:15", "2026-11-22", "2026-11-21T23:15:00+00:00"),  # already tomorrow in Berlin
    ("2026-07-01T04:30:00+00:00", "06:30", "2026-07-01", "2026-07-01T04:30:00+00:00"),  # summer: UTC+2
    # 29 March 2026: clocks jump from 02:00 to 03:00; 02:30 is read with the winter offset (03:30 summer time)
    ("2026-03-29T02:00:00+00:00", "02:30", "2026-03-29", "2026-03-29T01:30:00+00:00"),
    # 25 October 2026: 02:30 happens twice; the first one counts
    ("2026-10-25T02:00:00+00:00", "02:30", "2026-10-25", "2026-10-25T00:30:00+00:00"),
])
def test_latest_summary_time_in_the_depots_zone(now, at, day, instant):
    got = schedule.latest_summary_time(dt.datetime.fromisoformat(now), schedule.parse_time_of_day(at), BERLIN)
    assert got == (dt.date.fromisoformat(day), dt.datetime.fromisoformat(instant))


@pytest.mark.parametrize("text", ["6:30", "24:00", "06:60", "noon", ""])
def test_time_of_day_is_hh_mm(text):
    if text == "6:30":
        assert schedule.parse_time_of_day(text) == dt.time(6, 30)
        return
    with pytest.raises(ValueError, match="HH:MM"):
        schedule.parse_time_of_day(text)


@pytest.mark.parametrize("attempts, max_s, delay_s", [
    (1, 1800, 30), (2, 1800, 60), (6, 1800, 960), (7, 1800, 1800), (100, 1800, 1800), (3, 50, 50), (0, 1800, 30),
])
def test_retries_wait_doubling_up_to_the_longest(attempts, max_s, delay_s):
    assert schedule.retry_delay_s(attempts, max_s=max_s) == delay_s


def test_a_batch_closes_a_window_after_its_first_alarm():
    assert schedule.batch_closes_at(T0, 60) == T0 + dt.timedelta(seconds=60)


@pytest.mark.parametrize("url, security, expected", [
    ("smtp://mail.example", "starttls", ("mail.example", 587, "starttls")),
    ("smtp://mail.example", "plain", ("mail.example", 25, "plain")),
    ("smtp://mail.example:2525", "plain", ("mail.example", 2525, "plain")),
    ("smtps://mail.example", "starttls", ("mail.example", 465, "tls")),  # smtps: TLS whatever the setting says
])
def test_smtp_url(url, security, expected):
    assert parse_smtp_url(url, security) == expected


@pytest.mark.parametrize("url, says", [
    ("mail.example:25", "is not an SMTP server"),
    ("smtp://user:secret@mail.example", "must not carry a login"),
    ("smtp://mail.example:99999", "port must be a number"),
])
def test_bad_smtp_url_says_what_to_write(url, says):
    with pytest.raises(ValueError) as caught:
        parse_smtp_url(url, "starttls")
    assert says in str(caught.value)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["raised", "cleared", "updated"]),
                          st.sampled_from(rules.KINDS), st.sampled_from(rules.SEVERITIES)), min_size=1, max_size=60))
def test_a_batch_carries_every_change_once_and_counts_them(changes):
    notes = [AlarmNote(i, kind, severity, f"CP{i}", f"alarm {i}", "", change, T0 + dt.timedelta(seconds=second))
             for i, (second, change, kind, severity) in enumerate(changes)]
    message = render_batch(notes, BERLIN, "depot-7", T0, 1)
    assert sorted(a["alarm_id"] for a in message.payload["alarms"]) == list(range(len(notes)))
    if len(notes) > 1:
        assert message.subject.startswith(f"depot-7: {len(notes)} alarm changes (")
    assert all(f"alarm {i}" in message.body for i in range(len(notes)))
