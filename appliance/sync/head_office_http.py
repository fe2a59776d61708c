"""One exchange with head office over HTTP: the token, the JSON answer, and every way it can fail
said in words a technician understands."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class HeadOfficeError(ValueError):
    """Head office could not be asked, or its answer cannot be used; the message says which."""


async def request_json(http: aiohttp.ClientSession, method: str, url: str, token: str, timeout_s: float,
                       what: str, **kwargs: Any) -> Any:
    """`what` names the exchange in errors ("CDRs", "its tokens")."""
    try:
        async with http.request(method, url, headers={"Authorization": f"Token {token}"}, **kwargs) as response:
            if response.status >= 300:
                raise HeadOfficeError(f"head office answered HTTP {response.status} for {what}")
            try:
                return await response.json(content_type=None)
            except ValueError:
                raise HeadOfficeError(f"head office's answer for {what} is not JSON") from None
    except asyncio.TimeoutError:
        raise HeadOfficeError(f"head office did not answer for {what} within {timeout_s:g} s") from None
    except aiohttp.ClientError as e:
        raise HeadOfficeError(f"cannot reach head office for {what}: {e}") from None
