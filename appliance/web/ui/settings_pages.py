"""The appliance's own pages: /sync (head-office sync: where records go, what waits, what failed, and
buttons to send now or take tokens now), /settings (every effective setting, read-only: they live in
the config file and the environment; the addresses chargers use; the TLS fingerprint; the readers)
and /accounts/tokens (API tokens, admin only: the middleware guards /accounts)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance import tls
from appliance.config import CONFIG_FILE_NAME, ENV_PREFIX, describe
from appliance.core import sync_outbox
from appliance.core.tokens import CLI_TOKEN_NAME, TokenError
from appliance.web.keys import AUDIT_ACTION, CORE, READERS, SYNC
from appliance.web.ui.render import FormError, redirect, render, text_field

routes = web.RouteTableDef()

SECRET_WORDS = ("password", "token", "secret")
MASK = "•••"
_SECRET_QUERY = re.compile(r"(?i)((?:^|&)[^=&]*(?:token|key|secret|password)[^=&]*=)[^&]*")


def mask_url(url: str) -> str:
    """A URL fit to show: a password in it, and query or fragment values named like secrets, masked."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, _SECRET_QUERY.sub(rf"\1{MASK}", parts.query),
                                    _SECRET_QUERY.sub(rf"\1{MASK}", parts.fragment)))


# -- head-office sync -----------------------------------------------------------------------------

@routes.get("/sync")
async def sync_page(request: web.Request) -> web.Response:
    return await show_sync(request)


async def show_sync(request: web.Request, errors: dict[str, str] | None = None,
                    form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    core = request.app[CORE]
    state = await request.app[SYNC].status()
    context = {"state": state, "url": mask_url(state.url), "counts": await sync_outbox.counts(core.db),
               "pull_tokens": core.settings.sync_pull_tokens, "interval_s": core.settings.sync_interval_s,
               "pull_interval_s": core.settings.sync_pull_interval_s, "errors": errors or {},
               "form": form if form is not None else {"url": mask_url(state.url)}}
    return await render(request, "sync.html", context, status=status)


@routes.post("/sync")
async def configure_sync(request: web.Request) -> web.Response:
    form = await request.post()
    sync = request.app[SYNC]
    current = (await sync.status()).url
    url = str(form.get("url", "")).strip()
    if url == mask_url(current):  # the form shows the address masked: unchanged keeps the secret in it
        url = current
    token = "" if form.get("clear_token") else (str(form.get("token", "")) or None)  # empty: keep the token
    request[AUDIT_ACTION] = (f"set head office to {mask_url(url)}" if url else "turned head-office sync off") + (
        "; token changed" if token else "; token removed" if token == "" else "")
    try:
        if len(url) > 500 or (token and len(token) > 500):
            raise FormError("at most 500 characters", "url" if len(url) > 500 else "token")
        await sync.configure(url, token)
    except (ValueError, FormError) as e:
        field = getattr(e, "field", "") or "url"
        message = str(e)
        return await show_sync(request, {field: message[:1].upper() + message[1:]},
                               {"url": str(form.get("url", ""))}, status=400)
    raise redirect("/sync", f"Charge detail records go to {mask_url(url)}." if url else
                   "Head-office sync is off: charge detail records wait here until an address is set.")


@routes.post("/sync/now")
async def sync_now(request: web.Request) -> web.Response:
    request[AUDIT_ACTION] = "sent charge detail records to head office now"
    sync = request.app[SYNC]
    if not (await sync.status()).configured:
        raise redirect("/sync", "No head office is set: give its address first.", kind="error")
    sent = await sync.drain()
    after = await sync.status()
    if after.queue_length and after.last_error:
        raise redirect("/sync", f"Sent {sent} record(s); {after.queue_length} still waiting. Head office: "
                                f"{after.last_error}", kind="error")
    raise redirect("/sync", f"Sent {sent} record(s) to head office; {after.queue_length} waiting.")


@routes.post("/sync/pull-tokens")
async def pull_tokens(request: web.Request) -> web.Response:
    request[AUDIT_ACTION] = "took the user group's tokens from head office now"
    try:
        result = await request.app[SYNC].pull_tokens(request.app[CORE].users)
    except ValueError as e:
        raise redirect("/sync", f"Tokens from head office: {e}", kind="error") from None
    skipped = f"; {len(result.skipped)} not taken: " + "; ".join(result.skipped[:5]) if result.skipped else ""
    raise redirect("/sync", f"Tokens from head office: {result.added} added, {result.blocked} blocked, "
                            f"{result.unblocked} unblocked{skipped}.", kind="warning" if result.skipped else "ok")


# -- settings -------------------------------------------------------------------------------------

@routes.get("/settings")
async def settings_page(request: web.Request) -> web.Response:
    settings = request.app[CORE].settings
    context = {"rows": setting_rows(settings), "config_file": config_file(settings.data_dir),
               "addresses": charger_addresses(request), "tls_on": settings.tls,
               "certificate": await certificate(settings) if settings.tls else None,
               "readers": list(request.app[READERS].statuses.values()), "settings": settings,
               "now": dt.datetime.now(dt.timezone.utc)}
    return await render(request, "settings.html", context)


def setting_rows(settings) -> list[dict[str, Any]]:
    rows = []
    for name, env, default, unit, help_text in describe():
        value = getattr(settings, name)
        secret = any(word in name for word in SECRET_WORDS)
        rows.append({"name": name, "env": env, "unit": unit, "help": help_text, "secret": secret,
                     "value": (MASK + " (set)" if value else "(not set)") if secret else _shown(value),
                     "default": _default(name, default),
                     "changed": name != "data_dir" and value != default})
    return rows


def _default(name: str, default: Any) -> str:
    if name == "data_dir":
        return "(worked out at start: APPLIANCE_DATA_DIR, else ~/.local/share/depot-appliance)"
    return _shown(default)


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(("http://", "https://", "postgresql://", "postgres://")):
        return mask_url(value)
    return str(value) if value != "" else "(empty)"


def config_file(data_dir: Path) -> str:
    return os.environ.get(ENV_PREFIX + "CONFIG") or str(data_dir / CONFIG_FILE_NAME)


def charger_addresses(request: web.Request) -> dict[str, str]:
    """Where chargers reach the appliance: the public_url setting, else the address this page came to."""
    settings = request.app[CORE].settings
    base = settings.public_url.rstrip("/") if settings.public_url else f"{request.scheme}://{request.host}"
    ws = ("wss" if base.startswith("https") else "ws") + base[base.index("://"):]
    base, ws = mask_url(base), mask_url(ws)
    return {"ocpp_j": f"{ws}/ocpp/CHARGER-ID", "soap_15": f"{base}/ocpp/soap/1.5",
            "soap_16": f"{base}/ocpp/soap/1.6", "web": base + "/",
            "source": "the public_url setting" if settings.public_url else "the address this page was opened with"}


async def certificate(settings) -> dict[str, Any]:
    """The certificate in use (never made here: the server makes its own at start when TLS is on)."""
    cert_file, key_file = tls.paths(settings)
    if not cert_file.exists():
        return {"error": f"no certificate at {cert_file} yet: the server makes one when it starts with TLS on"}
    try:
        info = await asyncio.to_thread(tls.describe, cert_file, key_file)
    except tls.TlsError as e:
        return {"error": str(e)}
    return {"info": info, "error": ""}


# -- API tokens (under /accounts: admin only) -------------------------------------------------

@routes.get("/accounts/tokens")
async def tokens_page(request: web.Request) -> web.Response:
    return await show_tokens(request)


async def show_tokens(request: web.Request, errors: dict[str, str] | None = None, form: dict[str, Any] | None = None,
                      new_token: tuple[str, str] | None = None, status: int = 200) -> web.Response:
    context = {"tokens": await request.app[CORE].tokens.list(), "cli_token": CLI_TOKEN_NAME,
               "new_token": new_token, "errors": errors or {}, "form": form or {}}
    return await render(request, "accounts_tokens.html", context, status=status)


@routes.post("/accounts/tokens")
async def create_token(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    request[AUDIT_ACTION] = f"created API token {name[:64]}"
    try:
        name = text_field(form, "name", "Name", max_length=64)
        if not name.isprintable():
            raise FormError("Name: letters, digits and punctuation only", "name")
        token = await request.app[CORE].tokens.create(name)
    except FormError as e:
        return await show_tokens(request, {e.field: str(e)}, dict(form), status=400)
    except TokenError as e:
        return await show_tokens(request, {"name": str(e)[:1].upper() + str(e)[1:]}, dict(form), status=400)
    # Shown in this answer only: a redirect would have to carry it in a cookie.
    return await show_tokens(request, new_token=(name, token))


@routes.post("/accounts/tokens/{name}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    request[AUDIT_ACTION] = f"revoked API token {name}"
    if not await request.app[CORE].tokens.revoke(name):
        raise redirect("/accounts/tokens", f"There is no API token named {name}.", kind="error")
    note = " The CLI's live commands fail until the server restarts (it makes a new one then)." \
        if name == CLI_TOKEN_NAME else " Scripts using it are refused from now on."
    raise redirect("/accounts/tokens", f"API token {name} revoked.{note}")
