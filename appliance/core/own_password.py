"""A staff member changing their own password: the current one is checked first.

Why not StaffAccounts.login() to check it: that opens a browser session, stamps the last login and
writes "logged in" to the audit log, none of which happened. A wrong current password still counts
towards the lock-out like a wrong login does, so a browser left logged in cannot be used to guess
the password at leisure.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.core import events as ev
from appliance.core.accounts import AccountError, AccountRecord, StaffAccounts
from appliance.store import accounts as store

_hasher = PasswordHasher()


class WrongPassword(AccountError):
    """The current password given is not the account's."""


async def change_own_password(accounts: StaffAccounts, name: str, current: str, new: str, session_id: int,
                              client: str = "") -> AccountRecord:
    """Set `name`'s password to `new` if `current` is right; every other browser of theirs is logged
    out, the one with `session_id` stays."""
    stored = await accounts.db.read(store.password_hash, name)
    if stored is None:
        raise AccountError(f"no account named {name!r}")
    if not await asyncio.to_thread(_matches, stored, current or ""):
        locked = await accounts.db.write(_wrong_sync, name, accounts.settings.ui_lockout_failures,
                                         accounts.settings.ui_lockout_s, client)
        raise WrongPassword("the current password is wrong" + ("; the account is now locked for new logins"
                                                               if locked else ""))
    return await accounts.set_password(name, new, actor=name, keep_session_id=session_id)


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _wrong_sync(name: str, lockout_failures: int, lockout_s: float, client: str) -> bool:
    account = store.get(name)
    failures = account.failed_logins + 1
    locked = failures >= lockout_failures
    store.update(name, failed_logins=0 if locked else failures,
                 **({"locked_until": ev.utcnow() + dt.timedelta(seconds=lockout_s)} if locked else {}))
    store.add_audit(ev.utcnow(), name, "password change refused", name,
                    "wrong current password" + (", account locked" if locked else ""), "refused", client)
    return locked
