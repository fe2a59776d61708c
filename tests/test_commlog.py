"""The communication log: secrets masked, retention by age and by count."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.core.commlog import mask_secrets
from appliance.store import logs as log_store


@pytest.mark.parametrize("message, hidden", [
    ('[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3cret"}]', "s3cret"),
    ('[2,"1","ChangeConfiguration",{"key": "AuthorizationKey", "value": "s3cret"}]', "s3cret"),
    ('[2,"1","SetVariables",{"setVariableData":[{"attributeValue":"x","component":{"name":"SecurityCtrlr"},'
     '"variable":{"name":"BasicAuthPassword"},"value":"pw-2.0.1"}]}]', "pw-2.0.1"),
])
def test_secrets_are_masked(message, hidden):
    masked = mask_secrets(message)
    assert hidden not in masked and "***" in masked


def test_other_messages_are_kept_verbatim():
    message = '[2,"1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60"}]'
    assert mask_secrets(message) == message


async def test_prune_keeps_the_newest_within_age_and_count(appliance):
    db = appliance.core.db
    now = dt.datetime.now(dt.timezone.utc)
    for i in reversed(range(10)):  # oldest first, as messages arrive
        db.append_rows(log_store.INSERT_COMMLOG, log_store.commlog_row("CP1", "in", now - dt.timedelta(days=i),
                                                                        f"message {i}"))
    await db.write(lambda: None)  # the appended rows go with this commit
    removed = await db.write(log_store.prune_commlog, now - dt.timedelta(days=5, hours=12), 4)
    kept = [e.message for e in await appliance.core.commlog.recent("CP1")]
    assert removed == 6 and kept == ["message 0", "message 1", "message 2", "message 3"]  # newest first
