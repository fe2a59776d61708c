"""Write the ChargePointService WSDLs the appliance's zeep client reads, from their spyne definition.

    python -m appliance.ocpp15_soap.generate_wsdl [DIRECTORY]

The files are committed (appliance/ocpp15_soap/wsdl/) so that the running appliance parses a fixed
file instead of building spyne classes first; a test checks they equal what this writes now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree
from spyne.interface.wsdl import Wsdl11

from appliance.ocpp15_soap.cp_models import CP15, CpVersion
from appliance.ocpp15_soap.cp_service import build_application
from appliance.ocpp15_soap.wsdl_fix import XS, complete_wsdl, tidy_namespaces

WSDL_DIR = Path(__file__).parent / "wsdl"
# As in the official WSDLs; every link calls its charger's own address instead.
LOCATION = "http://localhost/Ocpp/ChargePointService/"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"


def versions() -> tuple[CpVersion, ...]:
    from appliance.ocpp16.soap_link import CP16  # 1.6's data lives with 1.6; ocpp16 imports this package

    return CP15, CP16


def chargepoint_wsdl(version: CpVersion) -> bytes:
    """The version's ChargePointService WSDL: spyne's, completed, in a stable order."""
    app, _ = build_application(version)
    document = Wsdl11(app.interface)
    document.build_interface_document(LOCATION)
    return _stable(tidy_namespaces(complete_wsdl(document.get_interface_document())))


def _stable(wsdl: bytes) -> bytes:
    """spyne writes schema types in an order that changes from run to run: sort them (and the messages)
    by kind and name, so that the committed file only changes when the interface does; indent it."""
    root = etree.fromstring(wsdl, etree.XMLParser(remove_blank_text=True))
    kinds = {etree.QName(XS, kind).text: i for i, kind in enumerate(("import", "simpleType", "complexType", "element"))}

    def order(node: etree._Element) -> tuple[int, str]:
        return kinds.get(node.tag, len(kinds)), node.get("name") or node.get("namespace") or ""

    for schema in root.iter(f"{{{XS}}}schema"):
        schema[:] = sorted(schema, key=order)
    messages = root.findall(f"{{{_WSDL}}}message")
    anchor = messages[0].getprevious()
    for message in sorted(messages, key=lambda m: m.get("name")):
        anchor.addnext(message)
        anchor = message
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def write_all(directory: Path = WSDL_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for version in versions():
        path = directory / version.wsdl_file
        path.write_bytes(chargepoint_wsdl(version))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else WSDL_DIR):
        print(written_path)
