"""WS-Addressing headers read from a request: both namespaces, From before ReplyTo, the rest ignored."""

from __future__ import annotations

import pytest
from lxml import etree

from appliance.ocpp15_soap.addressing import WSA, WSA_2004, Addressing, read_addressing

OTHER = "urn://Ocpp/Cs/2015/10/"


def headers(xml: str) -> list:
    root = etree.fromstring(f'<h xmlns:a="{WSA}" xmlns:s="{WSA_2004}" xmlns:o="{OTHER}">{xml}</h>')
    return list(root)


@pytest.mark.parametrize("xml, expected", [
    ("", Addressing()),
    (("<a:MessageID> urn:uuid:1 </a:MessageID><a:Action>/MeterValues</a:Action><a:To>http://cs/ocpp</a:To>"
      "<a:From><a:Address>http://10.0.0.5:8080/</a:Address></a:From>"
      "<a:ReplyTo><a:Address>http://10.0.0.6/</a:Address></a:ReplyTo>"),
     Addressing(WSA, "urn:uuid:1", "/MeterValues", "http://cs/ocpp", "http://10.0.0.5:8080/", "http://10.0.0.6/")),
    # the 2004/08 submission, answered in it
    ("<s:MessageID>m1</s:MessageID><s:From><s:Address>http://cp/</s:Address></s:From>",
     Addressing(WSA_2004, "m1", from_address="http://cp/")),
    # other namespaces, comments and an Address in the wrong namespace are not WS-Addressing
    (("<o:chargeBoxIdentity>CP1</o:chargeBoxIdentity><!-- note --><o:MessageID>no</o:MessageID>"
      "<a:From><o:Address>http://cp/</o:Address></a:From><a:MessageID>m2</a:MessageID>"),
     Addressing(WSA, "m2")),
    ("<a:ReplyTo/>", Addressing()),
])
def test_read_addressing(xml, expected):
    assert read_addressing(headers(xml)) == expected


def test_no_headers_at_all():
    assert read_addressing(None) == Addressing()
