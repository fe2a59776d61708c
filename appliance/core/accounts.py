"""Staff accounts for the web UI: roles, logins with lock-out, browser sessions, and the audit log.

Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes), in a worker thread so
the event loop never waits on a hash. Browser sessions are random tokens kept only as SHA-256, like
API tokens, each with its own CSRF token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.config import Settings
from appliance.core import events as ev
from appliance.core.rate_limit import RateLimiter
from appliance.core.secrets import hash_token
from appliance.store import accounts as store
from appliance.store.accounts import AccountRecord, AuditRecord
from appliance.store.database import Database, is_constraint_error

ROLES = ("viewer", "operator", "admin")  # each may do what the one before it may
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
# Each argon2 hash takes 64 MiB: a flood of logins gets at most this many at once, not one a thread.
HASHES_AT_ONCE = 2
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOUCH_EVERY = dt.timedelta(seconds=60)  # a session's last use is written at most this often
_hasher = PasswordHasher()

__all__ = ["AccountError", "AccountRecord", "AuditRecord", "LoginRefused", "ROLES", "StaffAccounts", "StaffSession",
           "TooManyLogins", "role_allows"]


class AccountError(ValueError):
    pass


class LoginRefused(AccountError):
    pass


class TooManyLogins(LoginRefused):
    """Too many login attempts from one client address; `retry_after_s` until the next may be made."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many login attempts from this address; try again in {max(1, round(retry_after_s))} s")
        self.retry_after_s = retry_after_s


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class StaffSession:
    id: int
    account: AccountRecord
    csrf_token: str
    expires_at: dt.datetime

    def may(self, needed: str) -> bool:
        return role_allows(self.account.role, needed)


class StaffAccounts:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._attempts = RateLimiter(settings.login_attempts_per_min)  # per client address
        self._throttle_audits = RateLimiter(1)  # one audit line a minute per throttled address
        self._hashing: asyncio.Semaphore | None = None

    # -- accounts (every change audited in the same transaction) -----------------------------

    async def add(self, name: str, role: str, password: str, actor: str) -> AccountRecord:
        if not _NAME.match(name or ""):
            raise AccountError("an account name is 1 to 64 letters, digits or . _ @ -, starting with a letter or digit")
        self._check_role(role)
        password_hash = await self._hash(self._checked_password(password))

        def add_sync() -> AccountRecord:
            record = store.add(name, role, password_hash, ev.utcnow())
            store.add_audit(ev.utcnow(), actor, "account added", name, f"role {role}", "ok", "")
            return record
        try:
            return await self.db.write(add_sync)
        except Exception as e:
            if is_constraint_error(e):
                raise AccountError(f"an account named {name!r} exists") from None
            raise

    async def list(self) -> list[AccountRecord]:
        return await self.db.read(store.list_all)

    async def get(self, name: str) -> AccountRecord | None:
        return await self.db.read(store.get, name)

    async def set_role(self, name: str, role: str, actor: str) -> AccountRecord:
        self._check_role(role)
        return await self._change(name, actor, f"role set to {role}", keep_an_admin=role != "admin", role=role)

    async def set_disabled(self, name: str, disabled: bool, actor: str) -> AccountRecord:
        record = await self._change(name, actor, "disabled" if disabled else "enabled", keep_an_admin=disabled,
                                    disabled=disabled)
        if disabled:
            await self.db.write(store.end_sessions_of, name)
        return record

    async def unlock(self, name: str, actor: str) -> AccountRecord:
        return await self._change(name, actor, "unlocked", failed_logins=0, locked_until=None)

    async def set_password(self, name: str, password: str, actor: str, keep_session_id: int | None = None
                           ) -> AccountRecord:
        password_hash = await self._hash(self._checked_password(password))
        record = await self._change(name, actor, "password changed", password_hash=password_hash, failed_logins=0,
                                    locked_until=None)
        # Whoever knew the old password is logged out everywhere (but in the browser that changed it).
        await self.db.write(store.end_sessions_of, name, keep_session_id)
        return record

    async def remove(self, name: str, actor: str) -> None:
        def remove_sync() -> None:
            account = store.get(name)
            if account is None:
                raise AccountError(f"no account named {name!r}")
            if account.role == "admin" and not account.disabled and store.active_admins(excluding=name) == 0:
                raise AccountError(f"{name!r} is the last admin; make another admin first")
            store.remove(name)
            store.add_audit(ev.utcnow(), actor, "account removed", name, "", "ok", "")
        await self.db.write(remove_sync)

    async def _change(self, name: str, actor: str, what: str, keep_an_admin: bool = False, **fields) -> AccountRecord:
        def change_sync() -> AccountRecord:
            account = store.get(name)
            if account is None:
                raise AccountError(f"no account named {name!r}")
            if keep_an_admin and account.role == "admin" and store.active_admins(excluding=name) == 0:
                raise AccountError(f"{name!r} is the last admin; make another admin first")
            record = store.update(name, **fields)
            store.add_audit(ev.utcnow(), actor, f"account {what}", name, "", "ok", "")
            return record
        return await self.db.write(change_sync)

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")

    @staticmethod
    def _checked_password(password: str) -> str:
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        return password

    # -- logging in ------------------------------------------------------------------------------

    async def login(self, name: str, password: str, client: str = "") -> tuple[str, StaffSession]:
        """A new browser session (its cookie token and the session), or LoginRefused saying why;
        TooManyLogins when `client` (its address) has tried too often lately, whatever the account."""
        await self._count_attempt(name, client)
        now = ev.utcnow()
        account = await self.db.read(store.get, name) if name else None
        stored = await self.db.read(store.password_hash, name) if account else None
        # No stored password is longer: a longer one is wrong, and hashing megabytes of it costs.
        good = await self._verify((password or "")[:MAX_PASSWORD_LENGTH + 1], stored or _dummy_hash())
        if account is None:
            await self.audit(name[:64] or "?", "login refused", "", "no such account", "refused", client)
            raise LoginRefused("wrong name or password")
        if account.locked_until and account.locked_until > now:
            minutes = max(1, round((account.locked_until - now).total_seconds() / 60))
            await self.audit(name, "login refused", "", "account locked", "refused", client)
            raise LoginRefused(f"this account is locked after {self.settings.ui_lockout_failures} wrong passwords; "
                               f"try again in {minutes} min or ask an admin to unlock it")
        if account.disabled:
            await self.audit(name, "login refused", "", "account disabled", "refused", client)
            raise LoginRefused("this account is disabled; ask an admin")
        if not good:
            await self.db.write(self._failed_sync, name, client)
            raise LoginRefused("wrong name or password")
        if _hasher.check_needs_rehash(stored):
            await self.db.write(store.update, name, password_hash=await self._hash(password))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + dt.timedelta(seconds=self.settings.ui_session_max_s)

        def login_sync() -> store.SessionRow:
            store.update(name, failed_logins=0, locked_until=None, last_login_at=now)
            store.add_session(account.id, hash_token(token), csrf, now, expires, client)
            store.add_audit(now, name, "logged in", "", "", "ok", client)
            return store.find_session(hash_token(token))
        row = await self.db.write(login_sync)
        return token, StaffSession(row.id, row.account, row.csrf_token, row.expires_at)

    async def _count_attempt(self, name: str, client: str) -> None:
        wait = self._attempts.take(client, time.monotonic())
        if not wait:
            return
        if not self._throttle_audits.take(client, time.monotonic()):
            await self.audit(name[:64] or "?", "login refused", "", "too many attempts from this address (further "
                             "refusals in the next minute not audited)", "refused", client)
        raise TooManyLogins(wait)

    async def _hash(self, password: str) -> str:
        async with self._hashing_slot():
            return await asyncio.to_thread(_hasher.hash, password)

    async def _verify(self, password: str, stored: str) -> bool:
        async with self._hashing_slot():
            return await asyncio.to_thread(_verify, password, stored)

    def _hashing_slot(self) -> asyncio.Semaphore:
        if self._hashing is None:  # made on the loop that uses it (the CLI and tests run several loops)
            self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        return self._hashing

    def _failed_sync(self, name: str, client: str) -> None:
        account = store.get(name)
        failures = account.failed_logins + 1
        locked = failures >= self.settings.ui_lockout_failures
        store.update(name, failed_logins=0 if locked else failures,
                     **({"locked_until": ev.utcnow() + dt.timedelta(seconds=self.settings.ui_lockout_s)} if locked
                        else {}))
        store.add_audit(ev.utcnow(), name, "login refused", "", "wrong password" + (", account locked" if locked else ""),
                        "refused", client)

    async def session(self, token: str) -> StaffSession | None:
        """The live session a cookie names, or None (unknown, expired, idle too long, account disabled)."""
        if not token:
            return None
        now = ev.utcnow()
        row = await self.db.read(store.find_session, hash_token(token))
        if row is None:
            return None
        idle = dt.timedelta(seconds=self.settings.ui_session_idle_s)
        if row.expires_at <= now or row.last_seen_at + idle <= now or row.account.disabled:
            await self.db.write(store.end_session, hash_token(token))
            return None
        if now - row.last_seen_at >= _TOUCH_EVERY:
            await self.db.write(store.touch_session, row.id, now)
        return StaffSession(row.id, row.account, row.csrf_token, row.expires_at)

    async def logout(self, token: str, client: str = "") -> None:
        row = await self.db.read(store.find_session, hash_token(token)) if token else None
        if row is not None:
            def logout_sync() -> None:
                store.end_session(hash_token(token))
                store.add_audit(ev.utcnow(), row.account.name, "logged out", "", "", "ok", client)
            await self.db.write(logout_sync)

    async def prune_sessions(self) -> int:
        now = ev.utcnow()
        return await self.db.write(store.prune_sessions, now - dt.timedelta(seconds=self.settings.ui_session_idle_s),
                                   now)

    # -- the audit log ---------------------------------------------------------------------------

    async def audit(self, actor: str, action: str, target: str = "", detail: str = "", outcome: str = "ok",
                    client: str = "") -> None:
        await self.db.write(store.add_audit, ev.utcnow(), actor, action, target, detail, outcome, client)

    async def audit_log(self, limit: int = 100, offset: int = 0, actor: str | None = None,
                        search: str | None = None) -> list[AuditRecord]:
        return await self.db.read(store.audit_log, limit, offset, actor, search)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the name is unknown, so a wrong name takes as long as a wrong
    password; made at the first login, not at import (it costs a tenth of a second)."""
    return _hasher.hash(secrets.token_hex(16))


def _verify(password: str, stored: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
