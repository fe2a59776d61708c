"""Queries on chargers' local authorization lists: what each charger accepted last."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from appliance.store.models import LocalListState
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class ListStateRecord:
    version: int
    entries: list[dict]  # {"id_tag", "status", "expires_at" (ISO or None), "parent_id_tag"}
    left_out: list[str]
    synced_at: dt.datetime | None
    error: str
    attempted_at: dt.datetime | None


def get(charger_id: int) -> ListStateRecord | None:
    s = LocalListState.get_or_none(LocalListState.charger == charger_id)
    if s is None:
        return None
    return ListStateRecord(s.version, json.loads(s.entries), json.loads(s.left_out), from_db(s.synced_at), s.error,
                           from_db(s.attempted_at))


def save(charger_id: int, **fields) -> None:
    fields = {k: json.dumps(v) if k in ("entries", "left_out") else to_db(v) if isinstance(v, dt.datetime) else v
              for k, v in fields.items()}
    LocalListState.insert(charger=charger_id, **fields).on_conflict(
        conflict_target=[LocalListState.charger], update=fields).execute()
