"""Who may see and change what in the web UI: login, logout, the session cookie, CSRF, roles,
security headers, and an audit entry for every change.

Every path that is not the API, OCPP, /healthz or /static is the web UI and needs a login. GET and
HEAD need the viewer role, anything else the operator role and a CSRF token (the session's, in the
form field csrf_token or the X-CSRF-Token header); /accounts and /audit need the admin role.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import urllib.parse

from aiohttp import web

from appliance.core.accounts import LoginRefused, TooManyLogins
from appliance.core.commands import mask_secret_value
from appliance.web.keys import AUDIT_ACTION, CORE, STAFF
from appliance.web.middleware import USER_ERRORS
from appliance.web.ui.render import FormError, redirect, render

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

COOKIE = "appliance_session"
LOGIN_CSRF_COOKIE = "appliance_login_csrf"
PUBLIC = ("/login",)
NOT_UI = ("/api/", "/ocpp/", "/healthz", "/static/", "/metrics")
ADMIN_ONLY = ("/accounts", "/audit")
ANYONE_MAY_POST = ("/logout", "/account/password")  # a viewer may still leave and change their password
NOT_AUDITED = ("/logout",)  # the core audits logging out itself
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Form fields never written to the audit log.
SECRET_FIELDS = {"csrf_token", "password", "password_again", "current_password", "new_password"}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Scripts only from the appliance's own files (no inline script); style attributes are allowed
    # for the bars and charts' sizes.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
}


def is_ui(path: str) -> bool:
    return not path.startswith(NOT_UI)


def client_of(request: web.Request) -> str:
    return request.remote or ""


@web.middleware
async def staff_auth(request: web.Request, handler):
    if not is_ui(request.path):
        return await handler(request)
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as e:  # redirects after a change
        e.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    if not response.prepared:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _guarded(request: web.Request, handler) -> web.StreamResponse:
    if request.path in PUBLIC or request.match_info.http_exception is not None:
        return await _answer(request, handler)  # the login page, or "no such page" (404/405) for anyone
    staff = await request.app[CORE].accounts.session(request.cookies.get(COOKIE, ""))
    if staff is None:
        if request.method in SAFE_METHODS:
            target = request.path_qs if request.path != "/" else ""
            raise web.HTTPSeeOther("/login" + (f"?next={urllib.parse.quote(target)}" if target else ""))
        return await _refused(request, 401, "Your login has ended. Log in again, then repeat what you did.")
    request[STAFF] = staff
    if request.path.startswith(ADMIN_ONLY):
        needed = "admin"
    elif request.method in SAFE_METHODS or request.path in ANYONE_MAY_POST:
        needed = "viewer"
    else:
        needed = "operator"
    if not staff.may(needed):
        return await _refused(request, 403, f"Your account ({staff.account.role}) may not do this; "
                                            f"it needs the {needed} role.")
    if request.method in SAFE_METHODS:
        return await _answer(request, handler)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge as e:
        return await _refused(request, 413, f"This form is too large for the appliance ({e.text}).")
    sent = str(form.get("csrf_token") or request.headers.get("X-CSRF-Token", ""))
    if not sent or not hmac.compare_digest(sent, staff.csrf_token):
        await request.app[CORE].accounts.audit(staff.account.name, f"{request.method} {request.path}", "",
                                               "without a valid CSRF token", "refused", client_of(request))
        return await _refused(request, 403, "This form is out of date or did not come from this appliance "
                                            "(its security token is missing or wrong). Reload the page and try again.")
    if request.path in NOT_AUDITED:
        return await _answer(request, handler)
    try:
        response = await _answer(request, handler)
    except web.HTTPException as e:
        await _audit(request, form, e.status)
        raise
    await _audit(request, form, response.status)
    return response


async def _answer(request: web.Request, handler) -> web.StreamResponse:
    """The handler's page; what goes wrong becomes a page saying so, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        default = {404: "There is no such page here.", 405: "That cannot be done with this page."}.get(
            e.status, "The appliance could not do this.")
        text = e.text if e.text and not e.text.startswith(f"{e.status}:") and "{" not in e.text[:1] else default
        return await _refused(request, e.status, text)
    except (FormError, *USER_ERRORS) as e:
        return await _refused(request, 404 if isinstance(e, LookupError) else 400, str(e))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return await _refused(request, 500, "Something went wrong inside the appliance; its log has the details.")


async def _refused(request: web.Request, status: int, message: str) -> web.Response:
    return await render(request, "error.html", {"status": status, "message": message}, status=status)


def _loggable_form(form) -> str:
    fields = mask_secret_value({k: str(v)[:200] for k, v in form.items() if not hasattr(v, "file")})
    return "; ".join(f"{k}={'***' if _is_secret(k) else v}" for k, v in fields.items() if k != "csrf_token")


def _is_secret(name: str) -> bool:
    return name in SECRET_FIELDS or "password" in name.lower() or name.lower().endswith(("token", "secret"))


async def _audit(request: web.Request, form, status: int) -> None:
    staff = request[STAFF]
    detail = _loggable_form(form)
    action = request.get(AUDIT_ACTION) or f"{request.method} {request.path}"
    target = "/".join(str(v) for v in request.match_info.values())
    await request.app[CORE].accounts.audit(staff.account.name, action, target, detail[:4000],
                                           f"refused ({status})" if status >= 400 else "ok", client_of(request))


# -- login and logout ------------------------------------------------------------------------------

@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return await _login_form(request, "")


async def _login_form(request: web.Request, error: str, name: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = await render(request, "login.html", {"login_csrf": token, "error": error, "name": name,
                                                     "next": _safe_next(request.query.get("next", ""))},
                            status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/login", httponly=True, samesite="Strict",
                        secure=request.secure)
    return response


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()[:64]
    sent, expected = str(form.get("csrf_token", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return await _login_form(request, "The login form was out of date; please try again.", name, status=403)
    if not name or not form.get("password"):
        return await _login_form(request, "Give your name and your password.", name, status=400)
    try:
        token, session = await request.app[CORE].accounts.login(name, str(form.get("password")), client_of(request))
    except TooManyLogins as e:
        response = await _login_form(request, str(e).capitalize() + ".", name, status=429)
        response.headers["Retry-After"] = str(max(1, round(e.retry_after_s)))
        return response
    except LoginRefused as e:
        return await _login_form(request, str(e).capitalize() + ".", name, status=401)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))) or "/")
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict", secure=request.secure,
                        max_age=int(request.app[CORE].settings.ui_session_max_s))
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:  # noqa: RET503
    await request.app[CORE].accounts.logout(request.cookies.get(COOKIE, ""), client_of(request))
    response = redirect("/login", "You are logged out.")
    response.del_cookie(COOKIE, path="/")
    raise response


def _safe_next(target: str) -> str:
    """Only a path on this appliance: never another site after logging in."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""
