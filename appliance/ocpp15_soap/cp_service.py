"""The ChargePointService's interface as a spyne application: operations, message names, SOAP 1.2.

The appliance only calls this service (a charger serves it), so here it is the source of the WSDL
the appliance's zeep client reads. Whoever serves it (the tests' virtual charger) passes `answer`,
which gets every parsed request and returns the response object.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

from spyne import Application, Fault, Service, rpc
from spyne.protocol.soap import Soap12

from appliance.ocpp15_soap.cp_models import CpVersion, build_models

# answer(ctx, operation, request) -> the operation's response object (None: an empty request)
Answer = Callable[[Any, str, Any], Any]


def element_name(operation: str, suffix: str) -> str:
    """The body element of an operation's message, as the official WSDLs name it: resetRequest."""
    return operation[0].lower() + operation[1:] + suffix


def build_application(version: CpVersion, answer: Answer | None = None,
                      validator: str | None = None) -> tuple[Application, SimpleNamespace]:
    """The version's ChargePointService and its models. Without `answer` it only describes the service
    (for the WSDL); every call is then a Server fault."""
    models = build_models(version)
    operations = {name: _declare(name, models, answer or _not_served) for name in version.operations}
    service = type("ChargePointService", (Service,), operations)
    app = Application([service], tns=version.namespace, name="ChargePointService",
                      in_protocol=Soap12(validator=validator), out_protocol=Soap12())
    return app, models


def _declare(name: str, models: SimpleNamespace, answer: Answer) -> Any:
    request = getattr(models, f"{name}Request", None)  # ClearCache's and GetLocalListVersion's are empty
    response = getattr(models, f"{name}Response")

    def operation(ctx, *request_object):
        return answer(ctx, name, request_object[0] if request_object else None)

    operation.__name__ = operation.__qualname__ = name  # spyne keys operations by function name
    return rpc(*([request] if request else []), _args=("request",) if request else (), _returns=response,
               _body_style="bare", _in_message_name=element_name(name, "Request"),
               _out_message_name=element_name(name, "Response"))(operation)


def _not_served(ctx: Any, operation: str, request: Any) -> Any:
    raise Fault("Server", f"{operation}: the appliance does not serve ChargePointService, chargers do")
