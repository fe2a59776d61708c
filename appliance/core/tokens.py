"""API tokens: created once (shown once), stored hashed, checked on every API request."""

from __future__ import annotations

from appliance.core import events as ev
from appliance.core.secrets import hash_token, new_token
from appliance.store import tokens as store
from appliance.store.database import Database, is_constraint_error

# The token the CLI uses to reach a running server's API; the server (re)makes it at start and
# writes it, readable by the owner only, into the data directory.
CLI_TOKEN_NAME = "local-cli"


class TokenError(ValueError):
    pass


class ApiTokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, name: str, replace: bool = False) -> str:
        token = new_token()
        fn = store.replace if replace else store.add
        try:
            await self.db.write(fn, name, hash_token(token), ev.utcnow())
        except Exception as e:
            if is_constraint_error(e):
                raise TokenError(f"a token named {name!r} exists; revoke it first") from None
            raise
        return token

    async def check(self, token: str) -> store.TokenRecord | None:
        return await self.db.read(store.find_by_hash, hash_token(token))

    async def list(self) -> list[store.TokenRecord]:
        return await self.db.read(store.list_all)

    async def revoke(self, name: str) -> bool:
        return await self.db.write(store.remove, name)
