"""The CentralSystemService's interface as a spyne application: operations, message names, SOAP 1.2.

spyne parses requests, validates them against the schema it derives from these declarations, and
writes answers and the WSDL. It never runs an operation: the SOAP endpoint awaits the matching
handler of `central_system` on the event loop instead (spyne's own call path is synchronous).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from spyne import Application, Service, rpc
from spyne.protocol.soap import Soap12

from appliance.ocpp15_soap.cs_models import CsVersion, build_models
from appliance.ocpp15_soap.xs_datetime import read_date_time

# Every operation a charger calls on the central system, in 1.5 and 1.6 alike.
OPERATIONS = ("Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
              "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification",
              "StopTransaction")


class Soap12Times(Soap12):
    """spyne's SOAP 1.2 reading xs:dateTime with `read_date_time` (spyne's own parser misreads
    offsets such as -03:30); what Python cannot hold still goes to spyne, to be refused as before."""

    def datetime_from_unicode_iso(self, cls, string):
        return read_date_time(string) or super().datetime_from_unicode_iso(cls, string)


def element_name(operation: str, suffix: str) -> str:
    """The body element of an operation's message, as the official WSDLs name it: bootNotificationRequest."""
    return operation[0].lower() + operation[1:] + suffix


def build_application(version: CsVersion) -> tuple[Application, SimpleNamespace]:
    models = build_models(version)
    operations = {name: _declare(name, models) for name in OPERATIONS}
    service = type("CentralSystemService", (Service,), operations)
    # Validating with lxml against the derived schema refuses what the official schema refuses (enumeration
    # values, lengths, missing elements, malformed numbers and dates) before anything is translated.
    app = Application([service], tns=version.namespace, name="CentralSystemService",
                      in_protocol=Soap12Times(validator="lxml"), out_protocol=Soap12())
    return app, models


def _declare(name: str, models: SimpleNamespace) -> Any:
    request = getattr(models, f"{name}Request", None)  # Heartbeat's request is empty: spyne makes it
    response = getattr(models, f"{name}Response")

    def operation(ctx, *request_object):  # pragma: no cover - declaration only, see the module's docstring
        raise NotImplementedError(f"{name} is answered by the SOAP endpoint's handler")

    operation.__name__ = operation.__qualname__ = name  # spyne keys operations by function name
    return rpc(*([request] if request else []), _args=("request",) if request else (), _returns=response,
               _body_style="bare", _in_message_name=element_name(name, "Request"),
               _out_message_name=element_name(name, "Response"))(operation)
