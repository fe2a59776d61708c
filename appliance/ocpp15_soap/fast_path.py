"""The quick way through a well-formed SOAP request: lxml and the schema, without spyne's generic machinery.

spyne's request parsing (`from_element` on every element) and answer writing (an lxml tree built
node by node, then serialised) cost ~60% of a SOAP MeterValues on the event loop. A request that is
well-formed and valid needs none of that generality: this module parses the envelope with spyne's
own parser settings, validates the body entry with spyne's own schema (the one derived from the
declarations in `cs_models`, so the same requests pass and fail), reads it into plain objects with
readers prepared per message type at start, and writes the answer as text from the response object.

Anything unusual goes to spyne unchanged: `read` returns None for a request that is not a SOAP 1.2
envelope with one body entry naming an operation, that fails validation, or that uses SOAP-encoded
references (id/href); spyne then parses it again and answers exactly as before (the refusal
included). Faults are always written by spyne.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable
from xml.sax.saxutils import escape

from lxml import etree
from spyne import ComplexModelBase, DateTime, Unicode, XmlAttribute, XmlData
from spyne.application import Application
from spyne.const.xml import NS_SOAP12_ENV
from spyne.model.primitive import Integer

from appliance.ocpp15_soap.addressing import ANONYMOUS, WSA, Addressing
from appliance.ocpp15_soap.xs_datetime import read_date_time

_ENVELOPE = f"{{{NS_SOAP12_ENV}}}Envelope"
_HEADER = f"{{{NS_SOAP12_ENV}}}Header"
_BODY = f"{{{NS_SOAP12_ENV}}}Body"
_XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
# Characters XML 1.0 cannot carry at all; lxml refuses them when spyne writes, and so does this writer.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass
class FastRequest:
    headers: list[etree._Element]  # the SOAP header entries (identity, WS-Addressing)
    operation: str
    request: Any  # the request's fields as attributes, None for an operation without any (Heartbeat)


Reader = Callable[[etree._Element], Any]


class FastPath:
    """Reads valid requests and writes answers for one version's CentralSystemService."""

    def __init__(self, app: Application) -> None:
        protocol = app.in_protocol
        self._in = protocol
        self._out = app.out_protocol
        self._tns = app.interface.get_tns()
        # spyne's parser settings (no network, no entities, no DTD); a parser is reused: one event loop.
        self._parser = etree.XMLParser(**protocol.parser_kwargs)
        self._schema = protocol.validation_schema
        self._operations: dict[str, tuple[str, Reader | None]] = {}
        self._writers: dict[str, tuple[str, Callable[[Any], str]]] = {}
        for descriptor in app.interface.method_id_map.values():
            name = descriptor.operation_name
            message = descriptor.in_message
            element = message.Attributes.sub_name or message.get_type_name()
            fields = message.get_flat_type_info(message)
            self._operations[f"{{{self._tns}}}{element}"] = (name, self._reader(message) if fields else None)
            out = descriptor.out_message
            out_element = out.Attributes.sub_name or out.get_type_name()
            self._writers[name] = (out_element, self._writer(out))

    # -- requests --------------------------------------------------------------------------------

    def declares_doctype(self, body: bytes) -> bool:
        """Whether the message has a document type declaration, which SOAP forbids (SOAP 1.1 section 3;
        SOAP 1.2 part 1 section 5): an entity or external DTD has no business in a charger's message.
        The declaration is parsed, never loaded or expanded."""
        if b"<!DOCTYPE" not in body:
            return False
        try:
            return bool(etree.fromstring(body, self._parser).getroottree().docinfo.doctype)
        except (etree.XMLSyntaxError, ValueError):
            return False  # not XML at all: the usual path says so

    def read(self, body: bytes) -> FastRequest | None:
        """The request, or None when spyne must take it (anything not a valid, plain request)."""
        if b"href" in body:  # SOAP-encoded multi-references: spyne resolves them
            return None
        try:
            root = etree.fromstring(body, self._parser)
        except (etree.XMLSyntaxError, ValueError):
            return None
        if root.tag != _ENVELOPE:
            return None
        header = entry = None
        for child in root:
            if child.tag == _HEADER and header is None:
                header = child
            elif child.tag == _BODY and entry is None:
                if len(child) != 1:
                    return None
                entry = child[0]
        if entry is None or not isinstance(entry.tag, str):
            return None
        known = self._operations.get(entry.tag)
        if known is None or self._schema is None:
            return None
        try:
            if not self._schema.validate(entry):
                return None
        except etree.Error:  # e.g. an entity reference left unresolved: spyne takes it and says what is wrong
            return None
        operation, reader = known
        headers = [h for h in header if isinstance(h.tag, str)] if header is not None else []
        return FastRequest(headers, operation, reader(entry) if reader else None)

    def _reader(self, cls: Any) -> Reader:
        """A function reading an element of complex type `cls` into a namespace of its fields, as
        spyne's `complex_from_element` would for a valid element (absent fields None, repeated ones lists)."""
        members = cls.get_flat_type_info(cls)
        names = tuple(members)
        # Keyed by the tag as lxml spells it, qualified in the service's namespace (what the schema
        # asks for) and bare; any other namespace is looked up by its local name, as spyne does.
        children: dict[str, tuple[str, Callable[[Any], Any], bool, bool]] = {}
        attributes: dict[str, Callable[[str], Any]] = {}
        text_field: tuple[str, Callable[[str], Any]] | None = None
        for name, member in members.items():
            if isinstance(member, type) and issubclass(member, XmlAttribute):
                attributes[name] = self._from_text(member.type)
                continue
            if isinstance(member, type) and issubclass(member, XmlData):
                text_field = (name, self._from_text(member.type))
                continue
            if issubclass(member, ComplexModelBase):
                entry = (name, self._reader(member), _repeated(member), True)
            else:
                entry = (name, self._from_text(member), _repeated(member), False)
            children[name] = children[f"{{{self._tns}}}{name}"] = entry

        def read(element: etree._Element) -> Any:
            values = dict.fromkeys(names)
            if text_field is not None:
                values[text_field[0]] = text_field[1](element.text or "")
            for child in element:
                tag = child.tag
                known = children.get(tag)
                if known is None:
                    if not isinstance(tag, str):
                        continue  # a comment or processing instruction
                    known = children.get(tag[tag.find("}") + 1:])
                    if known is None:
                        continue
                name, convert, repeated, complex_type = known
                value = convert(child) if complex_type else convert(child.text or "")
                if repeated:
                    found = values[name]
                    if found is None:
                        values[name] = [value]
                    else:
                        found.append(value)
                else:
                    values[name] = value
            if attributes:
                for key, text in element.attrib.items():
                    convert = attributes.get(key)
                    if convert is not None:
                        values[key] = convert(text)
            return SimpleNamespace(**values)

        return read

    def _from_text(self, cls: Any) -> Callable[[str], Any]:
        if issubclass(cls, Unicode):
            return str
        if issubclass(cls, Integer):
            return int
        protocol = self._in
        if issubclass(cls, DateTime):
            # spyne's parser only for what Python cannot hold, to refuse it as before
            return lambda text: read_date_time(text) or protocol.from_unicode(cls, text)
        return lambda text: protocol.from_unicode(cls, text)

    # -- answers ---------------------------------------------------------------------------------

    def answer(self, operation: str, response: Any, addressing: Addressing) -> bytes:
        """The SOAP 1.2 answer to `operation`: WS-Addressing headers as `add_reply_headers` writes them,
        and the response element written from the response object."""
        element, write = self._writers[operation]
        ns = addressing.namespace
        headers = [f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"]
        if addressing.message_id:
            headers.append(f"<wsa:RelatesTo>{escape(addressing.message_id)}</wsa:RelatesTo>")
        headers.append(f"<wsa:Action>/{operation}Response</wsa:Action>")
        headers.append(f"<wsa:To>{ANONYMOUS if ns == WSA else ns + '/role/anonymous'}</wsa:To>")
        content = write(response) if response is not None else ""
        entry = f"<tns:{element}>{content}</tns:{element}>" if content else f"<tns:{element}/>"
        return (f'{_XML_DECLARATION}<soap12env:Envelope xmlns:soap12env="{NS_SOAP12_ENV}" xmlns:tns="{self._tns}">'
                f'<soap12env:Header xmlns:wsa="{ns}">{"".join(headers)}</soap12env:Header>'
                f"<soap12env:Body>{entry}</soap12env:Body></soap12env:Envelope>").encode("utf-8")

    def _writer(self, cls: Any) -> Callable[[Any], str]:
        """A function writing the fields of a `cls` object as child elements, in schema order; None
        fields are left out (every response field is nillable=False, minOccurs 0 or set)."""
        parts = []
        for name, member in cls.get_flat_type_info(cls).items():
            if issubclass(member, ComplexModelBase):
                inner = self._writer(member)
                parts.append((name, lambda value, inner=inner: inner(value), _repeated(member)))
            else:
                parts.append((name, self._to_text(member), _repeated(member)))

        def write(obj: Any) -> str:
            out = []
            for name, convert, repeated in parts:
                value = getattr(obj, name, None)
                if value is None:
                    continue
                for item in (value if repeated else (value,)):
                    text = convert(item)
                    out.append(f"<tns:{name}>{text}</tns:{name}>" if text else f"<tns:{name}/>")
            return "".join(out)

        return write

    def _to_text(self, cls: Any) -> Callable[[Any], str]:
        if issubclass(cls, Unicode):
            return _text
        if issubclass(cls, Integer):
            return lambda value: str(int(value))
        if issubclass(cls, DateTime):
            protocol = self._out
            return lambda value: escape(protocol.to_unicode(cls, value))
        raise TypeError(f"no fast writer for {cls!r}")  # caught at start: a new response type needs one


def _text(value: Any) -> str:
    text = str(value)
    if _NOT_XML.search(text):
        raise ValueError("All strings must be XML compatible")  # as lxml says when spyne writes it
    return escape(text)


def _repeated(member: Any) -> bool:
    return member.Attributes.max_occurs > 1
