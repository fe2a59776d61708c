"""Queries on API tokens (stored as hashes only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.store.models import ApiToken
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class TokenRecord:
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def _record(t: ApiToken) -> TokenRecord:
    return TokenRecord(t.id, t.name, from_db(t.created_at), from_db(t.last_used_at))


def add(name: str, token_hash: str, now: dt.datetime) -> TokenRecord:
    return _record(ApiToken.create(name=name, token_hash=token_hash, created_at=to_db(now)))


def replace(name: str, token_hash: str, now: dt.datetime) -> TokenRecord:
    ApiToken.delete().where(ApiToken.name == name).execute()
    return add(name, token_hash, now)


def find_by_hash(token_hash: str) -> TokenRecord | None:
    t = ApiToken.get_or_none(ApiToken.token_hash == token_hash)
    return _record(t) if t else None


def list_all() -> list[TokenRecord]:
    return [_record(t) for t in ApiToken.select().order_by(ApiToken.name)]


def remove(name: str) -> bool:
    return ApiToken.delete().where(ApiToken.name == name).execute() > 0
