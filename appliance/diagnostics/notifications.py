"""The notifications check: someone is told of alarms, and what is told reaches them (the queue does
not hold messages that a mail server or webhook keeps refusing)."""

from __future__ import annotations

from appliance.diagnostics.verdict import OK, SKIPPED, WARNING, Context, Verdict, age_text, guarded
from appliance.notify.settings import effective
from appliance.store import diagnostics as store

NAME = "notifications"
ACTION = "appliance notify test says what each mail server and webhook answers; appliance notify show lists the queue"


@guarded(NAME)
def check_notifications(context: Context) -> Verdict:
    queue = store.notification_queue(context.database())
    config = effective(context.settings, queue.stored_settings if queue else {})
    if not config.recipients:
        return Verdict(NAME, SKIPPED, "nobody is told of alarms (appliance notify set --to ADDRESS or --webhook URL)")
    told = f"{len(config.recipients)} recipient(s)"
    if queue and queue.failing:
        age = age_text((context.now - queue.oldest_failing_at).total_seconds())
        return Verdict(NAME, WARNING, f"{told}; {queue.failing} notification(s) not delivered yet, the oldest from "
                                      f"{age} ago: {queue.last_error}", ACTION)
    if queue and queue.refused:
        return Verdict(NAME, WARNING, f"{told}; {queue.refused} notification(s) refused for good in the last 30 days: "
                                      f"{queue.last_error}", ACTION)
    return Verdict(NAME, OK, f"{told}; every notification delivered")
