"""Why zeep could not use a WSDL, in words that name the element to fix and its line.

zeep's parser stops with whatever Python error it meets in a broken WSDL (an IndexError
for a message no wsdl:message defines, an AttributeError for a binding without ``type``),
and it quietly drops a port whose binding it cannot use; neither says where the mistake
is.  ``WsdlSources`` reads again, with lxml, the documents one load fetched and answers
what zeep does not: is the document a WSDL 1.1 at all, which reference is broken, why a
port is missing.  ``describe`` words zeep's own error when nothing more precise is found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from itertools import chain

from lxml import etree
from zeep import exceptions as zeep_errors

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL20_NS = "http://www.w3.org/ns/wsdl"
HTTP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/http/"
SOAP_BINDING_NS = (
    "http://schemas.xmlsoap.org/wsdl/soap/",
    "http://schemas.xmlsoap.org/wsdl/soap12/",
)
# The transports of zeep's SOAP bindings: it leaves out a binding with any other.
SOAP_HTTP_TRANSPORTS = (
    "http://schemas.xmlsoap.org/soap/http",
    "http://www.w3.org/2003/05/soap/bindings/HTTP/",
)
_NS = {"wsdl": WSDL_NS}
_HTTP_BINDING = f"{{{HTTP_BINDING_NS}}}binding"
_KINDS = ("message", "portType", "binding")
# How zeep says that a reference names nothing (zeep.wsdl.wsdl.Definition.get).
_NOT_DEFINED = re.compile(r"No definition '(?P<name>[^']*)' in '(?P<kind>\w+)' found")
_ZEEP_KINDS = {"messages": "message", "port_types": "portType", "bindings": "binding"}


def describe(exc: BaseException) -> str:
    """zeep's (or lxml's) error about a WSDL, in one line."""
    text = " ".join(str(exc).split())
    found = _NOT_DEFINED.fullmatch(text) if isinstance(exc, IndexError) else None
    if found is not None:
        kind = _ZEEP_KINDS.get(found["kind"], found["kind"])
        return f"it names the wsdl:{kind} {found['name']!r}, which it does not define"
    if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden):
        return (
            "it (or a document it imports) has a DOCTYPE or entity declarations, which the "
            "hub refuses in a WSDL: remove them"
        )
    if isinstance(exc, RecursionError):
        return (
            "its wsdl:import elements load each other in a loop; check that each import's "
            "namespace is the targetNamespace of the document it names"
        )
    if isinstance(exc, zeep_errors.Error | etree.LxmlError | Warning) and text:
        return text
    return f"zeep could not read it ({type(exc).__name__}{': ' + text if text else ''})"


class WsdlSources:
    """The documents one WSDL load fetched (``fetched``: location to bytes), parsed again."""

    def __init__(self, location: str, fetched: Mapping[str, bytes]) -> None:
        self.location = location
        parsed = {where: _parse(data) for where, data in fetched.items()}
        self._root = parsed.get(location)
        self._documents = [
            (where, root)
            for where, root in parsed.items()
            if root is not None and root.tag == f"{{{WSDL_NS}}}definitions"
        ]
        self._defined: dict[str, dict[tuple[str, str], etree._Element]] = {k: {} for k in _KINDS}
        self._local_names: dict[str, set[str]] = {kind: set() for kind in _KINDS}
        for _, root in self._documents:
            namespace = root.get("targetNamespace") or ""
            for kind in _KINDS:
                for element in root.iterfind(f"wsdl:{kind}", _NS):
                    name = element.get("name")
                    if name:
                        self._defined[kind][(namespace, name)] = element
                        self._local_names[kind].add(name)

    def not_a_wsdl(self) -> str | None:
        """Why the WSDL's own document is no WSDL 1.1 (None: it is, or lxml cannot tell)."""
        root = self._root
        if root is None or root.tag == f"{{{WSDL_NS}}}definitions":
            return None
        if root.tag == f"{{{WSDL20_NS}}}description":
            return (
                "it is a WSDL 2.0 description and the hub reads WSDL 1.1 (wsdl:definitions): "
                "ask the department for the WSDL 1.1 of the service"
            )
        name = etree.QName(root)
        where = f" in namespace {name.namespace}" if name.namespace else ""
        return (
            f"its root element is <{name.localname}>{where}, not the wsdl:definitions of a "
            "WSDL 1.1, so it is not a WSDL"
        )

    def broken_reference(self) -> str | None:
        """The first reference between the WSDL's parts that names nothing, and its line."""
        for where, root in self._documents:
            for element, problem in chain(
                _nameless(root),
                self._operation_messages(root),
                self._binding_references(root),
                _port_bindings(root),
            ):
                return f"{problem} ({self._line(where, element)})"
        return None

    def unusable_ports(self) -> dict[tuple[str, str], str]:
        """Why zeep left out a port, by (service, port): its binding is missing or not SOAP."""
        found: dict[tuple[str, str], str] = {}
        for where, root in self._documents:
            for service in root.iterfind("wsdl:service", _NS):
                for port in service.iterfind("wsdl:port", _NS):
                    why = self._port_problem(port)
                    if why is not None:
                        key = (service.get("name") or "", port.get("name") or "")
                        found[key] = f"{why} ({self._line(where, port)})"
        return found

    def _port_problem(self, port: etree._Element) -> str | None:
        named = port.get("binding")
        if named is None:
            return "it has no binding attribute"
        binding, problem = self._lookup(port, "binding", named)
        if binding is None:
            return f"it names {problem}"
        soap = _soap_binding(binding)
        if soap is None:
            if binding.find(_HTTP_BINDING) is not None:
                return None  # zeep keeps HTTP bindings; the egress refuses them by type
            return f"its binding {named!r} has no soap:binding element, so it is not a SOAP binding"
        transport = soap.get("transport")
        if transport not in SOAP_HTTP_TRANSPORTS:
            return (
                f"its binding {named!r} has the transport {transport!r}; the hub sends SOAP "
                f"over HTTP only ({SOAP_HTTP_TRANSPORTS[0]})"
            )
        return None

    def _operation_messages(self, root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
        for port_type in root.iterfind("wsdl:portType", _NS):
            for operation in port_type.iterfind("wsdl:operation", _NS):
                what = f"operation {operation.get('name')!r} of portType {port_type.get('name')!r}"
                for message in operation:
                    tag = etree.QName(message).localname
                    if tag not in ("input", "output", "fault"):
                        continue
                    named = message.get("message")
                    if named is None:
                        yield message, f"the {tag} of {what} has no message attribute"
                        continue
                    found, problem = self._lookup(message, "message", named)
                    if found is None:
                        yield message, f"the {tag} of {what} names {problem}"

    def _binding_references(self, root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
        for binding in root.iterfind("wsdl:binding", _NS):
            if _soap_binding(binding) is None and binding.find(_HTTP_BINDING) is None:
                continue  # zeep does not read it
            what = f"binding {binding.get('name')!r}"
            named = binding.get("type")
            if named is None:
                yield binding, f"{what} has no type attribute naming its wsdl:portType"
                continue
            port_type, problem = self._lookup(binding, "portType", named)
            if port_type is None:
                yield binding, f"{what} names {problem}"
                continue
            abstract = {op.get("name"): op for op in port_type.iterfind("wsdl:operation", _NS)}
            for operation in binding.iterfind("wsdl:operation", _NS):
                name = operation.get("name")
                listed = abstract.get(name)
                if listed is None:
                    problem = f"{what} has the operation {name!r}, which its portType {named!r}"
                    yield operation, f"{problem} does not list"
                    continue
                for tag in ("input", "output"):
                    if (
                        operation.find(f"wsdl:{tag}", _NS) is not None
                        and listed.find(f"wsdl:{tag}", _NS) is None
                    ):
                        problem = f"the operation {name!r} of {what} has an {tag}, but the"
                        yield operation, f"{problem} portType {named!r} gives it no {tag}"
                yield from self._headers(operation, f"the operation {name!r} of {what}")

    def _headers(
        self, operation: etree._Element, what: str
    ) -> Iterator[tuple[etree._Element, str]]:
        for namespace in SOAP_BINDING_NS:
            for tag in ("header", "headerfault"):
                for header in operation.iter(f"{{{namespace}}}{tag}"):
                    named = header.get("message")
                    if named is None:
                        yield header, f"a soap:{tag} of {what} has no message attribute"
                        continue
                    message, problem = self._lookup(header, "message", named)
                    if message is None:
                        yield header, f"a soap:{tag} of {what} names {problem}"
                        continue
                    part = header.get("part")
                    parts = [p.get("name") for p in message.iterfind("wsdl:part", _NS)]
                    if part is None:
                        yield header, f"a soap:{tag} of {what} has no part attribute"
                    elif part not in parts:
                        listed = ", ".join(repr(p) for p in parts) or "none"
                        problem = f"a soap:{tag} of {what} names the part {part!r} of message"
                        listing = f"which has no such part (its parts: {listed})"
                        yield header, f"{problem} {named!r}, {listing}"

    def _lookup(
        self, element: etree._Element, kind: str, named: str
    ) -> tuple[etree._Element | None, str]:
        """The wsdl:``kind`` that ``named`` (a QName in ``element``) refers to, or None and
        what is wrong with the reference."""
        prefix, _, local = named.strip().rpartition(":")
        if prefix:
            namespace = element.nsmap.get(prefix)
            if namespace is None:
                return None, f"{named!r}, whose prefix {prefix!r} is not declared"
        else:
            # As zeep reads it: an unprefixed name is in the document's targetNamespace.
            namespace = _document_namespace(element)
        found = self._defined[kind].get((namespace, local))
        if found is None and local in self._local_names[kind]:
            # zeep falls back to the local name in imported documents: so does this.
            found = next(e for (_, n), e in self._defined[kind].items() if n == local)
        if found is None:
            return None, f"the wsdl:{kind} {named!r}, which the WSDL does not define"
        return found, ""

    def _line(self, where: str, element: etree._Element) -> str:
        line = f"line {element.sourceline}"
        return line if where == self.location else f"{where}, {line}"


def _nameless(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    for kind in _KINDS:
        for element in root.iterfind(f"wsdl:{kind}", _NS):
            if not element.get("name"):
                yield element, f"a wsdl:{kind} has no name attribute"


def _port_bindings(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    for service in root.iterfind("wsdl:service", _NS):
        for port in service.iterfind("wsdl:port", _NS):
            if port.get("binding") is None:
                where = f"port {port.get('name')!r} of service {service.get('name')!r}"
                yield port, f"{where} has no binding attribute"


def _soap_binding(binding: etree._Element) -> etree._Element | None:
    for namespace in SOAP_BINDING_NS:
        found = binding.find(f"{{{namespace}}}binding")
        if found is not None:
            return found
    return None


def _document_namespace(element: etree._Element) -> str:
    root = element.getroottree().getroot()
    return root.get("targetNamespace") or element.nsmap.get(None) or ""


def _parse(data: bytes) -> etree._Element | None:
    # The same guards as zeep's load (no DTD, no entities, no network): these bytes were
    # fetched for it and are read here only to say what is wrong.
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False
    )
    try:
        return etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
