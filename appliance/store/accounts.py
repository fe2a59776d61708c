"""Queries on staff accounts (web UI logins), their browser sessions and the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.store.models import AuditEntry, StaffAccount, StaffSession
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class AccountRecord:
    id: int
    name: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True)
class SessionRow:
    id: int
    account: AccountRecord
    csrf_token: str
    last_seen_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: str
    outcome: str
    client: str


def _account(a: StaffAccount) -> AccountRecord:
    return AccountRecord(a.id, a.name, a.role, bool(a.disabled), a.failed_logins, from_db(a.locked_until),
                         from_db(a.last_login_at), from_db(a.created_at))


def _audit(e: AuditEntry) -> AuditRecord:
    return AuditRecord(e.id, from_db(e.at), e.actor, e.action, e.target, e.detail, e.outcome, e.client)


def add(name: str, role: str, password_hash: str, now: dt.datetime) -> AccountRecord:
    return _account(StaffAccount.create(name=name, role=role, password_hash=password_hash, created_at=to_db(now)))


def get(name: str) -> AccountRecord | None:
    a = StaffAccount.get_or_none(StaffAccount.name == name)
    return _account(a) if a else None


def password_hash(name: str) -> str | None:
    a = StaffAccount.get_or_none(StaffAccount.name == name)
    return a.password_hash if a else None


def list_all() -> list[AccountRecord]:
    return [_account(a) for a in StaffAccount.select().order_by(StaffAccount.name)]


def update(name: str, **fields) -> AccountRecord | None:
    if "locked_until" in fields:
        fields["locked_until"] = to_db(fields["locked_until"])
    if "last_login_at" in fields:
        fields["last_login_at"] = to_db(fields["last_login_at"])
    StaffAccount.update(**fields).where(StaffAccount.name == name).execute()
    return get(name)


def remove(name: str) -> bool:
    return StaffAccount.delete().where(StaffAccount.name == name).execute() > 0


def active_admins(excluding: str = "") -> int:
    return (StaffAccount.select().where((StaffAccount.role == "admin") & (StaffAccount.disabled == False)  # noqa: E712
                                        & (StaffAccount.name != excluding)).count())


def add_session(account_id: int, token_hash: str, csrf_token: str, now: dt.datetime, expires_at: dt.datetime,
                client: str) -> None:
    StaffSession.create(account=account_id, token_hash=token_hash, csrf_token=csrf_token, created_at=to_db(now),
                        last_seen_at=to_db(now), expires_at=to_db(expires_at), client=client[:100])


def find_session(token_hash: str) -> SessionRow | None:
    s = (StaffSession.select(StaffSession, StaffAccount).join(StaffAccount)
         .where(StaffSession.token_hash == token_hash).first())
    if s is None:
        return None
    return SessionRow(s.id, _account(s.account), s.csrf_token, from_db(s.last_seen_at), from_db(s.expires_at))


def touch_session(session_id: int, now: dt.datetime) -> None:
    StaffSession.update(last_seen_at=to_db(now)).where(StaffSession.id == session_id).execute()


def end_session(token_hash: str) -> None:
    StaffSession.delete().where(StaffSession.token_hash == token_hash).execute()


def end_sessions_of(name: str, keep_session_id: int | None = None) -> int:
    account = StaffAccount.get_or_none(StaffAccount.name == name)
    if account is None:
        return 0
    query = StaffSession.delete().where(StaffSession.account == account.id)
    if keep_session_id is not None:
        query = query.where(StaffSession.id != keep_session_id)
    return query.execute()


def prune_sessions(idle_before: dt.datetime, now: dt.datetime) -> int:
    return StaffSession.delete().where((StaffSession.expires_at < to_db(now))
                                       | (StaffSession.last_seen_at < to_db(idle_before))).execute()


def add_audit(now: dt.datetime, actor: str, action: str, target: str, detail: str, outcome: str,
              client: str) -> None:
    AuditEntry.create(at=to_db(now), actor=actor[:100], action=action[:200], target=target[:200], detail=detail,
                      outcome=outcome[:200], client=client[:100])


def audit_log(limit: int = 100, offset: int = 0, actor: str | None = None,
              search: str | None = None) -> list[AuditRecord]:
    query = AuditEntry.select()
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if search:
        query = query.where(AuditEntry.action.contains(search) | AuditEntry.target.contains(search)
                            | AuditEntry.detail.contains(search))
    return [_audit(e) for e in query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)]
