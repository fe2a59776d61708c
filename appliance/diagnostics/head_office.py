"""The head-office checks: its URL answers (any HTTP answer will do), and the outbox of charge detail
records is not piling up."""

from __future__ import annotations

import datetime as dt
import errno
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from appliance.diagnostics.verdict import FAIL, OK, SKIPPED, WARNING, Context, Verdict, age_text, guarded
from appliance.store import diagnostics as store

HEAD_OFFICE, OUTBOX = "head-office", "outbox"
OUTBOX_STALE = dt.timedelta(days=1)


@guarded(HEAD_OFFICE)
def check_head_office(context: Context) -> Verdict:
    state = store.head_office(context.database())
    if state is None:
        return Verdict(HEAD_OFFICE, SKIPPED, "not configured")
    answered, found, action = reach(state.url, context.timeout_s)
    if not answered:
        return Verdict(HEAD_OFFICE, FAIL, f"{state.url}: {found}", action)
    last = _last_sync(state, context.now)
    if _failing(state):
        return Verdict(HEAD_OFFICE, WARNING, f"{state.url} {found}, but {last}",
                       "check the token (appliance sync set --url URL --token TOKEN) with head office; "
                       "appliance sync now tries again at once")
    return Verdict(HEAD_OFFICE, OK, f"{state.url} {found}; {last}")


def reach(url: str, timeout_s: float) -> tuple[bool, str, str]:
    """(answered, what happened, what to do): one GET without credentials, proxies as the sync job uses them
    (none)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as e:  # an answer all the same: the network and TLS are fine
        status = e.code
    except urllib.error.URLError as e:
        return (False, *_why(e.reason, url, timeout_s))
    except (TimeoutError, socket.timeout) as e:
        return (False, *_why(e, url, timeout_s))
    except (http.client.HTTPException, OSError) as e:
        return False, f"the connection broke: {e}", "check head office's URL; try again later"
    return True, f"answered HTTP {status} in {(time.monotonic() - started) * 1000:.0f} ms", ""


def _why(reason, url: str, timeout_s: float) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or url
    if isinstance(reason, socket.gaierror):
        return (f"cannot resolve {host} (DNS: {reason.strerror})",
                "check the box's DNS server (resolvectl status) and the host name in the URL")
    if isinstance(reason, ConnectionRefusedError):
        return (f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)} refused the connection",
                "head office's service is down or the URL's port is wrong")
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return (f"no answer within {timeout_s:g} s",
                "a firewall drops the traffic or the route is down; check the depot's internet connection")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"its TLS certificate is not trusted ({reason.verify_message})",
                "check the box's clock (see the clock check) and that the box trusts head office's certificate "
                "authority")
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or reason})", "check the URL's scheme and port (https:// to a TLS port)"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return (f"no route to {host} ({reason.strerror})",
                "check the box's network: cable, address and gateway (ip address; ip route)")
    return f"cannot connect: {reason}", "check the box's network and head office's URL"


def _failing(state: store.HeadOfficeState) -> bool:
    """The sync job's last attempt failed (it reached head office, or not, with the job's token)."""
    return bool(state.failures and state.last_error_at
                and (state.last_success_at is None or state.last_error_at > state.last_success_at))


def _last_sync(state: store.HeadOfficeState, now: dt.datetime) -> str:
    if _failing(state):
        return f"the last sync failed {age_text((now - state.last_error_at).total_seconds())} ago: {state.last_error}"
    if state.last_success_at:
        return f"last sync {age_text((now - state.last_success_at).total_seconds())} ago"
    return "no sync yet"


@guarded(OUTBOX)
def check_outbox(context: Context) -> Verdict:
    conn = context.database()
    waiting, oldest = store.outbox(conn)
    if store.head_office(conn) is None:
        return Verdict(OUTBOX, SKIPPED, f"head office not configured ({waiting} charge detail record(s) kept here)")
    if not waiting:
        return Verdict(OUTBOX, OK, "every charge detail record is at head office")
    age = context.now - oldest
    found = (f"{waiting} charge detail record(s) not yet at head office, the oldest written "
             f"{age_text(age.total_seconds())} ago")
    if age > OUTBOX_STALE:
        return Verdict(OUTBOX, WARNING, found,
                       "see the head-office check and appliance sync status; appliance sync now sends at once")
    return Verdict(OUTBOX, OK, found)
