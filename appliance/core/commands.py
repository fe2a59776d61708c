"""Sending a command to a charger on someone's behalf: timeout, clear result, action log.

Web UI, CLI (through the API), DLM and local-list manager all send commands here, so every
command is bounded in time and written to the action log with who asked, why, and the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import inspect
import logging
import typing
from typing import Any, Awaitable, Callable

from appliance.core import events as ev
from appliance.core import link as lk
from appliance.store import logs as log_store
from appliance.store.database import Database

log = logging.getLogger(__name__)


class CommandError(ValueError):
    """The command itself is malformed (unknown name, bad arguments); nothing was sent."""


class ChargerCommands:
    def __init__(self, db: Database, links: lk.LinkRegistry, timeout_s: float = 30.0,
                 catch_up: Callable[[], Awaitable[None]] | None = None) -> None:
        self.db = db
        self.links = links
        self.timeout_s = timeout_s
        self.catch_up = catch_up  # learns of changes made by other processes (the CLI) before "offline"

    async def send(self, identity: str, command: str, arguments: dict[str, Any] | None = None, *,
                   actor: str, reason: str = "") -> lk.CommandResult:
        arguments = dict(arguments or {})
        if command not in lk.COMMANDS:
            raise CommandError(f"unknown command {command!r}; one of: {', '.join(lk.COMMANDS)}")
        arguments = coerce_arguments(command, arguments)
        link = self.links.get(identity)
        if link is None and self.catch_up is not None:
            await self.catch_up()
            link = self.links.get(identity)
        if link is None:
            result = lk.CommandResult(lk.OFFLINE, detail=f"charger {identity} is not connected")
        else:
            result = await self._call(link, command, arguments)
        await self.db.write(log_store.add_action, ev.utcnow(), actor, identity, command, _loggable(arguments),
                            reason, result.status, result.detail)
        return result

    async def _call(self, link: lk.ChargerLink, command: str, arguments: dict[str, Any]) -> lk.CommandResult:
        try:
            return await asyncio.wait_for(getattr(link, command)(**arguments), self.timeout_s)
        except CommandError:
            raise  # refused before sending: the caller's mistake, nothing happened
        except asyncio.TimeoutError:
            return lk.CommandResult(lk.TIMEOUT, detail=f"no answer within {self.timeout_s:g} s")
        except ConnectionError as e:
            return lk.CommandResult(lk.OFFLINE, detail=str(e) or "connection lost")
        except Exception as e:  # the adapter failed; the caller gets a result, the log the trace
            log.exception("%s to %s failed", command, link.identity)
            return lk.CommandResult(lk.ERROR, detail=f"{type(e).__name__}: {e}")

    async def actions(self, identity: str | None = None, limit: int = 100) -> list[log_store.ActionLogEntry]:
        return await self.db.read(log_store.actions, identity, limit)


def coerce_arguments(command: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Check arguments against ChargerLink's signature and turn JSON forms into typed values.

    Callers from the API hand over JSON: ISO date strings, objects for limits and list entries.
    A wrong or missing argument raises CommandError naming it, before anything is sent.
    """
    method = getattr(lk.ChargerLink, command)
    try:
        inspect.signature(method).bind(None, **arguments)
    except TypeError as e:
        raise CommandError(f"{command}: {e}") from None
    hints = typing.get_type_hints(method)
    return {name: _coerce(command, name, value, hints.get(name)) for name, value in arguments.items()}


def _coerce(command: str, name: str, value: Any, hint: Any) -> Any:
    kinds = typing.get_args(hint) or (hint,)
    if value is None:
        if hint is None or type(None) in kinds:
            return None
        raise CommandError(f"{command}: argument {name}: must not be null")
    try:
        if dt.datetime in kinds and isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
        if lk.ChargingLimit in kinds and isinstance(value, dict):
            return lk.ChargingLimit(**{k: _coerce(command, k, v, _field_type(lk.ChargingLimit, k))
                                       for k, v in value.items()})
        if name == "entries" and isinstance(value, list):
            return [lk.LocalListEntry(**{k: _coerce(command, k, v, _field_type(lk.LocalListEntry, k))
                                         for k, v in e.items()}) if isinstance(e, dict) else e for e in value]
        if dt.datetime in kinds and not isinstance(value, dt.datetime):
            raise TypeError("expected an ISO 8601 date-time")
        if bool in kinds and not isinstance(value, bool):
            raise TypeError("expected true or false")
        # Wrongly typed values must not reach the adapter: its schema check would refuse them there and
        # the result would look like the charger's CALLERROR although nothing was sent.
        if (int in kinds or float in kinds) and isinstance(value, bool):
            raise TypeError("expected a number")
        if int in kinds and float not in kinds:
            if isinstance(value, float) and not value.is_integer():
                raise TypeError("expected a whole number")
            if not isinstance(value, int):
                return int(value)
        if float in kinds and not isinstance(value, (int, float)):
            return float(value)
        if str in kinds and not isinstance(value, str):
            raise TypeError("expected a string")
        if any(typing.get_origin(k) is list for k in kinds) and not isinstance(value, list):
            raise TypeError("expected a list")
    except (TypeError, ValueError) as e:
        raise CommandError(f"{command}: argument {name}: {e}") from None
    return value


def _field_type(cls: type, name: str) -> Any:
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise TypeError(f"unknown field {name!r}")
    return hints[name]


_SECRET_KEYS = ("authorizationkey", "basicauthpassword")


def _loggable(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as the action log keeps them: secrets masked, dataclasses as dicts."""
    return mask_secret_value({key: _plain(value) for key, value in arguments.items()})


def mask_secret_value(arguments: dict[str, Any]) -> dict[str, Any]:
    """The value of a configuration key that is a secret, masked (for every log: action, audit)."""
    # A 1.6 key or a 2.0.1 variable (SecurityCtrlr.BasicAuthPassword); 2.0.1 names are case-insensitive.
    if str(arguments.get("key", "")).rsplit(".", 1)[-1].split(":")[0].lower() in _SECRET_KEYS and "value" in arguments:
        arguments = dict(arguments, value="***")
    return arguments


def _plain(value: Any) -> Any:
    """Dataclasses as dicts and times as ISO 8601 at any depth (a limit's start, a list entry's expiry)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
