"""The CLI's client of a running server's API, for commands that need a connected charger.

The server writes server.json (its address and a token for the CLI) into the data directory
at start; the CLI reads it. Plain urllib: a CLI call is one request, no event loop needed.
"""

from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from appliance import tls
from appliance.config import Settings


class LiveError(RuntimeError):
    """The running server could not be reached, or refused the request; the message says why."""


class LiveClient:
    def __init__(self, settings: Settings, timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = timeout_s or settings.command_timeout_s + 10

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads(self.settings.server_state_path.read_text())
        except FileNotFoundError:
            raise LiveError(f"no server is running on {self.settings.data_dir} "
                            "(start it with 'appliance serve')") from None
        except (OSError, ValueError) as e:
            raise LiveError(f"cannot read {self.settings.server_state_path}: {e}") from None

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        state = self._state()
        req = urllib.request.Request(
            state["url"] + path, method=method, data=json.dumps(data).encode() if data is not None else None,
            headers={"Authorization": f"Bearer {state['token']}", "Content-Type": "application/json"})
        context = None
        if state.get("tls_cert_file"):
            cert = Path(state["tls_cert_file"])
            context = tls.client_context(tls.describe(cert, cert))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                message = e.reason
            raise LiveError(str(message)) from None
        except (urllib.error.URLError, OSError) as e:
            raise LiveError(f"the server at {state['url']} does not answer ({e}); is it running?") from None

    def command(self, identity: str, command: str, arguments: dict[str, Any], reason: str) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/chargers/{identity}/commands/{command}",
                            {"arguments": arguments, "reason": reason, "on_behalf_of": _os_user()})


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"
