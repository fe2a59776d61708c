"""Staff accounts and the audit log: /accounts (admin: add accounts, change a role, set a password,
unlock, disable or enable, remove), /account/password (anyone logged in: their own password) and
/audit (admin: who did what, when, from where).

The core writes an audit entry for every account change (actor: the admin); the middleware adds one
per form sent, in the words of AUDIT_ACTION.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.core.accounts import MIN_PASSWORD_LENGTH, ROLES, AccountError
from appliance.core.own_password import WrongPassword, change_own_password
from appliance.web.keys import AUDIT_ACTION, CORE, STAFF
from appliance.web.ui.auth import client_of
from appliance.web.ui.render import (
    FormError,
    choice_field,
    redirect,
    render,
    text_field,
)

routes = web.RouteTableDef()

AUDIT_PAGE = 50
PASSWORD_FIELDS = ("password", "password_again", "new_password", "current_password")
# Words in an AccountError that tell which field of the add form it is about.
ADD_FIELDS = (("account name", "name"), ("named", "name"), ("role", "role"), ("password", "password"))


def me(request: web.Request) -> str:
    return request[STAFF].account.name


def capital(message: str) -> str:
    return message[:1].upper() + message[1:]


def without_passwords(form) -> dict[str, Any]:
    """What was typed, to show again after an error: never a password."""
    return {k: v for k, v in form.items() if k not in PASSWORD_FIELDS and k != "csrf_token"}


def new_password(form, field: str, label: str) -> str:
    """A new password and its repetition, checked before anything is asked of the core."""
    password = str(form.get(field, ""))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FormError(f"{label}: at least {MIN_PASSWORD_LENGTH} characters", field)
    if password != str(form.get("password_again", "")):
        raise FormError("Repeat the password: the two passwords differ", "password_again")
    return password


# -- accounts -------------------------------------------------------------------------------------

@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.Response:
    return await show_accounts(request)


async def show_accounts(request: web.Request, errors: dict[str, str] | None = None,
                        form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    accounts = await request.app[CORE].accounts.list()
    errors = dict(errors or {})
    for key in [k for k in errors if "@" in k and k.split("@", 1)[1] not in {a.name for a in accounts}]:
        errors["top"] = errors.pop(key)  # an account that is not there has no row to show it on
    context = {"accounts": accounts, "roles": ROLES, "me": me(request),
               "now": dt.datetime.now(dt.timezone.utc), "min_password": MIN_PASSWORD_LENGTH,
               "errors": errors, "form": form or {}}
    return await render(request, "accounts_list.html", context, status=status)


@routes.post("/accounts")
async def add_account(request: web.Request) -> web.Response:
    form = await request.post()
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    request[AUDIT_ACTION] = f"added account {name[:64]} ({role[:20]})"
    try:
        name = text_field(form, "name", "Name", max_length=64)
        role = choice_field(form, "role", "Role", ROLES)
        password = new_password(form, "password", "Password")
        await request.app[CORE].accounts.add(name, role, password, actor=me(request))
    except FormError as e:
        return await show_accounts(request, {e.field: str(e)}, without_passwords(form), status=400)
    except AccountError as e:
        field = next((f for words, f in ADD_FIELDS if words in str(e)), "")
        return await show_accounts(request, {field: capital(str(e))}, without_passwords(form), status=400)
    raise redirect("/accounts", f"Account {name} added as {role}. They log in with the password you gave.")


async def account_change(request: web.Request, what: str, change, done: str,
                         target: str = "/accounts") -> web.Response:
    """Run one change of the account in the path; its error is shown on that account's row."""
    name = request.match_info["name"]
    request[AUDIT_ACTION] = what
    try:
        await change(name)
    except FormError as e:
        return await show_accounts(request, {f"{e.field}@{name}": str(e)}, status=400)
    except AccountError as e:
        return await show_accounts(request, {f"@{name}": capital(str(e))}, status=400)
    raise redirect(target, done)


def not_yourself(request: web.Request, name: str, what: str) -> None:
    """An admin does not lock themselves out by a slip: another admin changes their account."""
    if name == me(request):
        raise AccountError(f"you cannot {what} your own account; another admin can")


@routes.post("/accounts/{name}/role")
async def set_role(request: web.Request) -> web.Response:
    form = await request.post()
    name, role = request.match_info["name"], str(form.get("role", ""))

    async def change(name: str) -> None:
        # One's own role may change (the core keeps the last admin); one's own access may not end here.
        await request.app[CORE].accounts.set_role(name, choice_field(form, "role", "Role", ROLES), actor=me(request))

    yourself = name == me(request) and role != "admin"  # the accounts page is no longer theirs to see
    return await account_change(request, f"set the role of {name} to {role[:20]}", change,
                                "You are now " + role + "." if yourself else f"{name} is now {role}.",
                                "/" if yourself else "/accounts")


@routes.post("/accounts/{name}/password")
async def set_password(request: web.Request) -> web.Response:
    form = await request.post()
    name = request.match_info["name"]

    async def change(name: str) -> None:
        password = new_password(form, "new_password", "New password")
        await request.app[CORE].accounts.set_password(name, password, actor=me(request))

    return await account_change(request, f"set a new password for {name}", change,
                                f"{name} has a new password; their logins are ended.")


@routes.post("/accounts/{name}/unlock")
async def unlock(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    async def change(name: str) -> None:
        await request.app[CORE].accounts.unlock(name, actor=me(request))

    return await account_change(request, f"unlocked {name}", change, f"{name} is unlocked and may log in again.")


@routes.post("/accounts/{name}/disable")
async def disable(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    async def change(name: str) -> None:
        not_yourself(request, name, "disable")
        await request.app[CORE].accounts.set_disabled(name, True, actor=me(request))

    return await account_change(request, f"disabled {name}", change,
                                f"{name} is disabled: logged out and may not log in.")


@routes.post("/accounts/{name}/enable")
async def enable(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    async def change(name: str) -> None:
        await request.app[CORE].accounts.set_disabled(name, False, actor=me(request))

    return await account_change(request, f"enabled {name}", change, f"{name} is enabled and may log in again.")


@routes.post("/accounts/{name}/remove")
async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    async def change(name: str) -> None:
        not_yourself(request, name, "remove")
        await request.app[CORE].accounts.remove(name, actor=me(request))

    return await account_change(request, f"removed account {name}", change, f"Account {name} removed.")


# -- one's own password -----------------------------------------------------------------------

@routes.get("/account/password")
async def own_password_page(request: web.Request) -> web.Response:
    return await show_own_password(request)


async def show_own_password(request: web.Request, errors: dict[str, str] | None = None,
                            status: int = 200) -> web.Response:
    return await render(request, "account_password.html", {"min_password": MIN_PASSWORD_LENGTH,
                                                            "errors": errors or {}}, status=status)


@routes.post("/account/password")
async def change_own(request: web.Request) -> web.Response:
    form = await request.post()
    staff = request[STAFF]
    request[AUDIT_ACTION] = "changed their own password"
    try:
        password = new_password(form, "new_password", "New password")
        if not form.get("current_password"):
            raise FormError("Current password: please fill this in", "current_password")
        await change_own_password(request.app[CORE].accounts, staff.account.name, str(form["current_password"]),
                                  password, staff.id, client_of(request))
    except FormError as e:
        return await show_own_password(request, {e.field: str(e)}, status=400)
    except WrongPassword as e:
        return await show_own_password(request, {"current_password": capital(str(e))}, status=400)
    except AccountError as e:
        return await show_own_password(request, {"new_password": capital(str(e))}, status=400)
    raise redirect("/account/password", "Your password is changed. Your other logins are ended; this one goes on.")


# -- the audit log --------------------------------------------------------------------------------

@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    actor = request.query.get("actor", "").strip()[:100]
    search = request.query.get("q", "").strip()[:200]
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    entries = await request.app[CORE].accounts.audit_log(AUDIT_PAGE + 1, (page - 1) * AUDIT_PAGE, actor or None,
                                                          search or None)

    def page_url(n: int) -> str:
        query = {k: v for k, v in (("actor", actor), ("q", search)) if v}
        return "/audit?" + urllib.parse.urlencode({**query, "page": n})

    context = {"entries": entries[:AUDIT_PAGE], "actor": actor, "search": search, "page": page,
               "previous_url": page_url(page - 1) if page > 1 else "",
               "next_url": page_url(page + 1) if len(entries) > AUDIT_PAGE else "",
               "account_names": [a.name for a in await request.app[CORE].accounts.list()]}
    return await render(request, "audit.html", context)
