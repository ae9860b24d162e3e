"""WSDLs for the SOAP egress: loaded once, confined to allowed places, read into a plan.

zeep parses the WSDL and the schemas it imports; every document it reads goes through
``_ConfinedTransport``, which refuses whatever lies outside the endpoint's allowed
location: for a local WSDL the routes folder (files only, no URLs), for a URL WSDL the
same scheme, host and port (no redirects).  DTDs and entities are refused by zeep's
settings.  So a WSDL, however written, cannot make the hub read another file or open a
connection elsewhere.

Before that check, a location with a local stand-in is read from it instead:

- the W3C schemas shipped with the hub (``xml.xsd``, XML Signature; the same catalogue the
  schema compiler uses, :mod:`exchange.schemas.catalog`), for any WSDL;
- for a local WSDL, the operator's map ``routes/wsdl/locations.txt``: one
  ``REMOTE-URL  LOCAL-FILE`` pair a line (``#`` comments), the file relative to ``routes/``
  (a text file, not YAML: every YAML file under ``routes/`` is read as routes).

A WSDL zeep cannot read whole is refused (``WsdlRefused``, a ConfigError) with the reason
and, where ``exchange.egress.wsdl_problems`` finds it, the line to fix: malformed XML, a
document that is not a WSDL 1.1, a reference to a message, portType or binding it does
not define, a part of an unknown type.  No error of zeep's or lxml's leaves this module.

``WsdlCache.operation(endpoint)`` answers what the SOAP egress needs to send: the SOAP
version, the action, the address and where the document goes in the body, or a
ConfigError that names the choices the WSDL offers ("did you mean ...").
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from lxml import etree
from zeep import Settings
from zeep import exceptions as zeep_errors
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsdl.bindings.soap import Soap12Binding, SoapBinding

from exchange.egress.wsdl_problems import WsdlSources, describe
from exchange.errors import ConfigError
from exchange.routing.model import SoapEndpoint
from exchange.routing.problems import did_you_mean
from exchange.schemas import catalog

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
DEFAULT_LOAD_TIMEOUT = 30.0
#: the operator's map of remote locations to local files, relative to the routes folder
LOCATIONS_FILE = Path("wsdl") / "locations.txt"
_COMMENT = re.compile(r"(^|\s)#.*$")

# zeep warns about, and then leaves out, what it cannot resolve (a binding operation its
# portType lacks, a message part of an unknown type).  As errors they stop the load, which
# then says what is wrong: a WSDL is used whole or refused, whatever the -W options.
warnings.filterwarnings("error", category=UserWarning, module=r"zeep\.wsdl\.")


class WsdlRefused(ConfigError):
    """The WSDL (or something it imports) is not in an allowed place, or is not usable;
    ``field`` names the endpoint setting to fix (wsdl, service, port, operation, part)."""

    def __init__(self, message: str, field: str = "wsdl") -> None:
        super().__init__(message)
        self.field = field


class WsdlUnreachable(ConfigError):
    """A URL WSDL could not be fetched (network, HTTP error): worth trying again later."""


@dataclass(frozen=True, slots=True)
class SoapOperation:
    """What the egress needs from the WSDL to send one operation's request."""

    endpoint: str
    operation: str
    version: str  # "1.1" or "1.2"
    envelope_ns: str
    action: str
    address: str | None  # the port's soap:address
    body: str  # Clark name of the body element: the document's root, or its wrapper
    part: str | None  # Clark name of the wrapper's child that holds the document
    one_way: bool  # no output message: an empty 2xx answer is a success

    def http_headers(self) -> dict[str, str]:
        """Content type and action as SOAP 1.1 / 1.2 over HTTP want them."""
        if self.version == "1.2":
            action = f'; action="{self.action}"' if self.action else ""
            return {"Content-Type": f"application/soap+xml; charset=utf-8{action}"}
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{self.action}"'}


class _ConfinedTransport(Transport):  # type: ignore[misc]  # zeep is untyped
    """zeep's transport, refusing every location outside ``root``."""

    def __init__(
        self, root: str, timeout: float, locations: Mapping[str, Path] | None = None
    ) -> None:
        super().__init__(timeout=timeout)  # type: ignore[no-untyped-call]
        self.session.trust_env = False  # no proxies or netrc picked up from the environment
        self.root = root
        self.locations = dict(locations or {})
        self.fetched: dict[str, bytes] = {}  # what zeep read, to say what is wrong with it

    def load(self, url: str) -> bytes:
        local = self._stand_in(url)
        if local is not None:
            data = self.fetched[url] = local.read_bytes()
            return data
        self._check(url)
        data = self.fetched[url] = self._fetch(url)
        return data

    def _stand_in(self, url: str) -> Path | None:
        """The local file answering ``url``: a shipped W3C schema or the operator's map."""
        if not _is_http(url):
            return None
        return catalog.local_copy(url) or self.locations.get(_normal_url(url))

    def _fetch(self, url: str) -> bytes:
        if _is_http(url):
            try:
                response = self.session.get(url, timeout=self.load_timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise WsdlUnreachable(
                    f"cannot fetch {url}: {exc}; check that the service is reachable from "
                    "the hub, or commit the WSDL under routes/ and point 'wsdl' at it"
                ) from exc
            with response:
                if response.status_code != 200:
                    raise WsdlUnreachable(
                        f"fetching {url} answered HTTP {response.status_code}; check the "
                        "WSDL's URL with the service's operators"
                    )
                return bytes(response.content)
        try:
            return Path(url).read_bytes()
        except OSError as exc:
            raise WsdlRefused(
                f"cannot read {url}: {exc.strerror or exc}; check the endpoint's 'wsdl' "
                "path and the WSDL's imports"
            ) from exc

    def _check(self, url: str) -> None:
        if _is_http(self.root):
            parts = urlsplit(url)
            if not _is_http(url) or f"{parts.scheme}://{parts.netloc}" != self.root:
                raise WsdlRefused(
                    f"refused to load {url}: a WSDL fetched from {self.root} may import "
                    f"only from {self.root}; copy the imported documents to that host "
                    "or commit them all under routes/"
                )
            return
        if "://" in url:
            raise WsdlRefused(
                f"refused to load {url}: a local WSDL may import only files inside the "
                f"routes folder {self.root}; copy the document there and import it by a "
                "relative path"
            )
        if not Path(url).resolve().is_relative_to(self.root):
            raise WsdlRefused(
                f"refused to load {url}: it lies outside the routes folder {self.root}; "
                "copy it into routes/ and import it by a relative path"
            )


@dataclass(frozen=True, slots=True)
class LoadedWsdl:
    """A parsed WSDL: zeep's Document, and why zeep left out the ports it left out."""

    document: Any
    unusable_ports: Mapping[tuple[str, str], str]  # (service, port): the reason


class WsdlCache:
    """Loaded WSDLs by location and the operations read from them; safe across threads.

    A location is loaded once (concurrent first uses wait for one load); a failed load is
    not kept, so a corrected WSDL is picked up at the next use.
    """

    def __init__(self, *, timeout: float = DEFAULT_LOAD_TIMEOUT) -> None:
        self._timeout = timeout
        self._documents: dict[tuple[str, str], LoadedWsdl] = {}
        self._operations: dict[tuple[str, ...], SoapOperation] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0  # WSDL loads done, for tests and diagnostics

    def cached(self, endpoint: SoapEndpoint) -> SoapOperation | None:
        """The operation of ``endpoint`` if already read (no I/O: fine in the event loop)."""
        return self._operations.get(_key(endpoint))

    def operation(self, endpoint: SoapEndpoint) -> SoapOperation:
        """The operation ``endpoint`` names, loading its WSDL if needed (blocking I/O)."""
        key = _key(endpoint)
        found = self._operations.get(key)
        if found is None:
            loaded = self.loaded(endpoint.wsdl_location, endpoint.wsdl_root)
            try:
                found = _read_operation(endpoint, loaded)
            except ConfigError:
                raise
            except Exception as exc:  # zeep's objects of an odd WSDL may fail when read
                raise WsdlRefused(
                    f"endpoint {endpoint.name!r} (WSDL {endpoint.wsdl}): cannot read operation "
                    f"{endpoint.operation!r}: {describe(exc)}; fix the WSDL or point the "
                    "endpoint's 'wsdl' at a correct one",
                    "operation",
                ) from exc
            self._operations[key] = found
        return found

    def loaded(self, location: str, root: str) -> LoadedWsdl:
        """The WSDL at ``location`` parsed, having read only within ``root``."""
        key = (location, root)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            loaded = self._documents.get(key)
            if loaded is None:
                loaded = self._documents[key] = self._load(location, root)
            return loaded

    def _load(self, location: str, root: str) -> LoadedWsdl:
        locations = {} if _is_http(root) else read_locations(Path(root))
        transport = _ConfinedTransport(root, self._timeout, locations)
        settings = Settings(
            strict=True,
            forbid_dtd=True,
            forbid_entities=True,
            # The transport is the one gate: it answers shipped and mapped locations from
            # local files and refuses the rest (a local WSDL reaches no network at all; a
            # URL WSDL only its own host), so zeep must hand it every URL.
            forbid_external=False,
            # Load what the WSDL names, as it names it (the transport checks each location).
            force_https=False,
        )
        self.loads += 1
        try:
            document = Document(location, transport, settings=settings)  # type: ignore[arg-type]
        except ConfigError as exc:
            # Name the WSDL the refused import belongs to.
            raise type(exc)(f"WSDL {location}: {exc}") from exc
        except zeep_errors.ExternalReferenceForbidden as exc:
            raise WsdlRefused(
                f"WSDL {location}: refused to load {exc.url}: a local WSDL may import only "
                f"files inside the routes folder {root}; copy the document there and import "
                "it by a relative path"
            ) from exc
        except (
            zeep_errors.DTDForbidden,
            zeep_errors.EntitiesForbidden,
            zeep_errors.XMLSyntaxError,
            etree.LxmlError,
        ) as exc:
            # Refused or malformed XML: said as zeep says it, whatever else may be wrong.
            raise _unusable(location, describe(exc)) from exc
        except Exception as exc:  # zeep's parser stops with whatever Python error it meets
            sources = WsdlSources(location, transport.fetched)
            detail = sources.not_a_wsdl() or sources.broken_reference() or describe(exc)
            raise _unusable(location, detail) from exc
        sources = WsdlSources(location, transport.fetched)
        problem = sources.not_a_wsdl()  # zeep reads any XML, finding no services in it
        if problem is not None:
            raise _unusable(location, problem)
        return LoadedWsdl(document, sources.unusable_ports())


def _unusable(location: str, detail: str) -> WsdlRefused:
    return WsdlRefused(
        f"WSDL {location} cannot be used: {detail}; fix the WSDL or point the endpoint's "
        "'wsdl' at a correct one"
    )


def _read_operation(endpoint: SoapEndpoint, loaded: LoadedWsdl) -> SoapOperation:
    where = f"endpoint {endpoint.name!r} (WSDL {endpoint.wsdl})"
    service = _pick(where, "service", "service", endpoint.service, loaded.document.services)
    unusable = loaded.unusable_ports.get((endpoint.service, endpoint.port))
    if endpoint.port not in service.ports and unusable is not None:
        raise WsdlRefused(
            f"{where}: port {endpoint.port!r} of service {endpoint.service!r} cannot be used: "
            f"{unusable}; choose a SOAP port of the service or fix the WSDL",
            "port",
        )
    port = _pick(
        where, "port", f"port of service {endpoint.service!r}", endpoint.port, service.ports
    )
    binding = port.binding
    if not isinstance(binding, SoapBinding):
        raise WsdlRefused(
            f"{where}: port {endpoint.port!r} has a {type(binding).__name__}, not a SOAP "
            "binding; choose a SOAP port of the service",
            "port",
        )
    operations = binding.all()  # type: ignore[no-untyped-call]
    operation = _pick(
        where, "operation", f"operation of port {endpoint.port!r}", endpoint.operation, operations
    )
    body = operation.input.body if operation.input is not None else None
    if body is None:
        raise WsdlRefused(
            f"{where}: operation {endpoint.operation!r} has no input body to carry the "
            "document; choose another operation",
            "operation",
        )
    envelope_ns = SOAP12_ENV if isinstance(binding, Soap12Binding) else SOAP11_ENV
    if str(body.qname) == f"{{{envelope_ns}}}Body":
        names = ", ".join(repr(name) for name, _ in body.type.elements)
        raise WsdlRefused(
            f"{where}: operation {endpoint.operation!r} sends {len(body.type.elements)} "
            f"body parts ({names}); the hub sends one document: choose an operation whose "
            "input is one element",
            "operation",
        )
    part = _part(where, endpoint, operation.style, body)
    return SoapOperation(
        endpoint=endpoint.name,
        operation=endpoint.operation,
        version="1.2" if isinstance(binding, Soap12Binding) else "1.1",
        envelope_ns=envelope_ns,
        action=operation.soapaction or "",
        # No soap:address leaves binding_options None: the endpoint's 'address' must say.
        address=(port.binding_options or {}).get("address"),
        body=str(body.qname),
        part=part,
        one_way=operation.output is None or operation.output.body is None,
    )


def _part(where: str, endpoint: SoapEndpoint, style: str, body: Any) -> str | None:
    """Clark name of the wrapper child named ``endpoint.part`` (None: the document is the
    body element itself)."""
    children = [(name, element) for name, element in getattr(body.type, "elements", [])]
    if endpoint.part is None:
        if style == "rpc":
            parts = ", ".join(repr(name) for name, _ in children) or "none"
            raise WsdlRefused(
                f"{where}: operation {endpoint.operation!r} is rpc style: its body is the "
                f"wrapper {body.qname.localname!r}; set 'part' to the part that carries the "
                f"document (parts: {parts})",
                "part",
            )
        return None
    for name, element in children:
        if name == endpoint.part:
            return str(element.qname)
    names = [name for name, _ in children]
    listed = ", ".join(repr(name) for name in names) or "none: it has no child elements"
    raise WsdlRefused(
        f"{where}: the body element {body.qname.localname!r} of operation "
        f"{endpoint.operation!r} has no child {endpoint.part!r}"
        f"{did_you_mean(endpoint.part, names)}; its children: {listed}. Leave 'part' out "
        "if the document is the body element itself",
        "part",
    )


def _pick(where: str, field: str, what: str, name: str, choices: Any) -> Any:
    try:
        return choices[name]
    except KeyError:
        known: Iterable[str] = list(choices)
        listed = ", ".join(repr(choice) for choice in known) or "none"
        raise WsdlRefused(
            f"{where}: no {what} named {name!r}{did_you_mean(name, known)}; the WSDL has: {listed}",
            field,
        ) from None


def _key(endpoint: SoapEndpoint) -> tuple[str, ...]:
    """What the plan depends on (endpoints hold dicts, so are not hashable themselves)."""
    return (
        endpoint.name,
        endpoint.wsdl_location,
        endpoint.wsdl_root,
        endpoint.service,
        endpoint.port,
        endpoint.operation,
        endpoint.part or "",
    )


def _is_http(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _normal_url(url: str) -> str:
    """http and https alike, no trailing slash: how the maps' keys are compared."""
    if url.startswith("https://"):
        url = "http://" + url[len("https://") :]
    return url.rstrip("/")


def read_locations(routes_dir: Path) -> dict[str, Path]:
    """The operator's ``routes/wsdl/locations.txt`` (empty when there is none); WsdlRefused
    naming the line when a pair is malformed or its file is missing or outside routes/."""
    path = routes_dir / LOCATIONS_FILE
    if not path.is_file():
        return {}
    base = routes_dir.resolve()
    found: dict[str, Path] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = _COMMENT.sub("", line).strip()  # a '#' inside a URL (xmldsig#) is kept
        if not text:
            continue
        fields = text.split()
        if len(fields) != 2 or not _is_http(fields[0]):
            raise WsdlRefused(
                f"{path}:{number}: expected 'REMOTE-URL LOCAL-FILE' (an http(s) URL, then a "
                "file relative to routes/); fix the line"
            )
        local = (base / fields[1]).resolve()
        if not local.is_relative_to(base) or not local.is_file():
            raise WsdlRefused(
                f"{path}:{number}: {fields[1]} is not a file inside the routes folder {base}; "
                "copy the document there and give its path relative to routes/"
            )
        found[_normal_url(fields[0])] = local
    return found
