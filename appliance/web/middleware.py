"""The web layer's middlewares: the client behind a trusted proxy and each route's body limit, API
token authentication, and the one error handler."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from appliance.core.accounts import AccountError
from appliance.core.alarms import AlarmError
from appliance.core.billing import BillingError
from appliance.core.chargers import ChargerError
from appliance.core.circuits import PlanError
from appliance.core.commands import CommandError
from appliance.core.maintenance import MaintenanceError
from appliance.core.networks import Network, forwarded_client
from appliance.core.tokens import TokenError
from appliance.core.users import UserGroupError
from appliance.web.keys import CORE, TOKEN_NAME

log = logging.getLogger(__name__)

USER_ERRORS = (AccountError, AlarmError, BillingError, ChargerError, UserGroupError, CommandError, MaintenanceError,
               PlanError, TokenError)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def client_and_limits(trusted: tuple[Network, ...], body_limits: tuple[tuple[str, int], ...], default_limit: int):
    """A middleware that makes `request.remote` and `request.secure` the client's own behind a trusted
    reverse proxy (`trusted`), and gives a request the body limit of the first path prefix in
    `body_limits` it starts with (else `default_limit`); reading past it answers 413."""

    @web.middleware
    async def client_and_limit(request: web.Request, handler):
        changes: dict = {}
        if trusted:
            client, secure = forwarded_client(request.remote, request.secure, request.headers.get("X-Forwarded-For"),
                                              request.headers.get("X-Forwarded-Proto"), trusted)
            if client != request.remote:
                changes["remote"] = client
            if secure != request.secure:
                changes["scheme"] = "https" if secure else "http"
        if request.body_exists:
            limit = next((size for prefix, size in body_limits if request.path.startswith(prefix)), default_limit)
            if limit != request.client_max_size:
                changes["client_max_size"] = limit
        return await handler(request.clone(**changes) if changes else request)

    return client_and_limit


@web.middleware
async def api_token_auth(request: web.Request, handler):
    if not request.path.startswith("/api/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    record = await request.app[CORE].tokens.check(token) if token else None
    if record is None:
        return web.json_response({"error": "an API token is needed: Authorization: Bearer TOKEN"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
    request[TOKEN_NAME] = record.name
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as e:
        await _audit(request, e.status)
        raise
    except Exception as e:
        await _audit(request, 404 if isinstance(e, LookupError) else 400 if isinstance(e, USER_ERRORS) else 500)
        raise
    await _audit(request, response.status)
    return response


async def _audit(request: web.Request, status: int) -> None:
    """Every change made through the API, in the same audit log as the web UI's (bodies are not kept:
    they may carry passwords and tokens)."""
    await request.app[CORE].accounts.audit(
        f"api:{request[TOKEN_NAME]}", f"{request.method} {request.path}",
        "/".join(str(v) for v in request.match_info.values()), "",
        f"refused ({status})" if status >= 400 else "ok", request.remote or "")


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as e:
        if request.path.startswith("/api/") and e.status >= 400 and e.content_type != "application/json":
            return _error(e.status, e.reason if e.text is None or e.text.startswith(f"{e.status}:") else e.text)
        raise
    except USER_ERRORS as e:
        return _error(404 if isinstance(e, LookupError) else 400, str(e))
    except (json.JSONDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        return _error(400, "the request body is not valid JSON")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error; the appliance log has the details")
