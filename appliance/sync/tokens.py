"""Pulling the user group's tokens from head office (OCPI 2.2.1 Token objects) into the closed user
group: a token head office knows is enrolled (to the company named by its `group_id`, else its
`issuer`), kept in step (blocked when not `valid`; unblocked only if head office blocked it), and
never deleted here: a token head office
stops listing stays as it was, since a depot must not lose a driver's card because a list was short.

`GET {url}/tokens` answers a JSON list of tokens, or OCPI's envelope `{"data": [...]}`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from appliance.core.users import UserGroup, UserGroupError
from appliance.sync.head_office_http import HeadOfficeError, request_json

log = logging.getLogger(__name__)

BLOCKED_BY_HEAD_OFFICE = "blocked by head office"
OCPI_TYPES = {"RFID": "ISO14443", "APP_USER": "Central", "AD_HOC_USER": "Central", "OTHER": "Local"}


@dataclass(frozen=True)
class PullResult:
    added: int
    blocked: int
    unblocked: int
    skipped: tuple[str, ...]  # tokens that could not be taken, with why


async def fetch_tokens(url: str, token: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
        data = await request_json(http, "GET", f"{url}/tokens", token, timeout_s, "its tokens")
    tokens = data.get("data") if isinstance(data, dict) else data
    if not isinstance(tokens, list):
        raise HeadOfficeError("head office's tokens are not a list (nor OCPI's {\"data\": [...]})")
    return tokens


async def apply_tokens(users: UserGroup, tokens: list[dict[str, Any]]) -> PullResult:
    added = blocked = unblocked = 0
    skipped: list[str] = []
    companies = {c.name for c in await users.companies()}
    for item in tokens:
        if not isinstance(item, dict) or not isinstance(item.get("uid"), str) or not item["uid"]:
            skipped.append(f"{str(item)[:40]}: no uid")
            continue
        uid, valid = item["uid"], item.get("valid", True) is not False
        company = str(item.get("group_id") or item.get("issuer") or "").strip()[:100] or None
        try:
            existing = await users.tag(uid)
            if existing is None:
                if company and company not in companies:
                    await users.add_company(company)
                    companies.add(company)
                await users.add_tag(uid, token_type=OCPI_TYPES.get(str(item.get("type")), "ISO14443"),
                                    note="from head office", company=company)
                added += 1
                if not valid:
                    await users.update_tag(uid, "blocked", status="blocked", note=BLOCKED_BY_HEAD_OFFICE)
                    blocked += 1
            elif valid and existing.status == "blocked" and existing.note == BLOCKED_BY_HEAD_OFFICE:
                # only what head office blocked: a card the depot's staff blocked stays blocked
                await users.update_tag(uid, "unblocked", status="active", note="from head office")
                unblocked += 1
            elif not valid and existing.status != "blocked":
                await users.update_tag(uid, "blocked", status="blocked", note=BLOCKED_BY_HEAD_OFFICE)
                blocked += 1
        except UserGroupError as e:
            skipped.append(f"{uid}: {e}")
    if skipped:
        log.warning("tokens from head office not taken: %s", "; ".join(skipped[:10]))
    return PullResult(added, blocked, unblocked, tuple(skipped))
