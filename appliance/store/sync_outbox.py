"""Queries for the head-office sync page: how the outbox of charge detail records stands, and
whether a token is set (never the token itself)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.store.models import ChargeDetailRecord, HeadOffice


@dataclass(frozen=True)
class OutboxCounts:
    unsent: int  # not yet confirmed by head office
    failing: int  # ... of which an attempt has already failed
    sent: int
    token_set: bool


def outbox_counts() -> OutboxCounts:
    unsent = ChargeDetailRecord.select().where(ChargeDetailRecord.sent_at.is_null())
    failing = unsent.where(ChargeDetailRecord.attempts > 0).count()
    sent = ChargeDetailRecord.select().where(ChargeDetailRecord.sent_at.is_null(False)).count()
    row = HeadOffice.select(HeadOffice.token).order_by(HeadOffice.id).first()
    return OutboxCounts(unsent.count(), failing, sent, bool(row and row.token))
