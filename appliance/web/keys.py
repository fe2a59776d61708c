"""Typed keys under which app.py stores shared objects on the aiohttp application."""

from aiohttp import web

from appliance.core.accounts import StaffSession
from appliance.core.services import Core
from appliance.dlm.controller import LoadController
from appliance.notify.notifier import Notifier
from appliance.reader_service import ReaderService
from appliance.sync.head_office import HeadOfficeSync

CORE = web.AppKey("core", Core)
READERS = web.AppKey("readers", ReaderService)
SYNC = web.AppKey("sync", HeadOfficeSync)
DLM = web.AppKey("dlm", LoadController)  # absent when load management is off
NOTIFIER = web.AppKey("notifier", Notifier)
# The name of the API token a request came with. aiohttp 3.14 warns (once per key, an error under the
# tests' filterwarnings) about plain string request keys; older versions have no RequestKey.
TOKEN_NAME = web.RequestKey("token_name", str) if hasattr(web, "RequestKey") else "token_name"
# The logged-in staff member's session on a web UI request (absent on /login, /static, the API).
STAFF = web.RequestKey("staff", StaffSession) if hasattr(web, "RequestKey") else "staff"
# What a web UI change did, in words, for its audit entry (a handler may set it; the path otherwise).
AUDIT_ACTION = web.RequestKey("audit_action", str) if hasattr(web, "RequestKey") else "audit_action"
