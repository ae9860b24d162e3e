"""Local copies of the W3C schemas that message schemas commonly import.

Real-world schemas import the ``xml:`` namespace without a schemaLocation, or import XML
Signature by absolute URL. The hub never fetches a schema from the network, so those imports are
answered from the files shipped in ``exchange/schemas/w3c/``; any other remote location is refused
by the compilers (see :mod:`exchange.schemas.compiler`).
"""

from __future__ import annotations

from pathlib import Path

W3C_DIR = Path(__file__).resolve().parent / "w3c"

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"

_XML_XSD = W3C_DIR / "xml.xsd"
_XMLDSIG_XSD = W3C_DIR / "xmldsig-core-schema.xsd"

#: namespace -> local schema, used for ``<xs:import namespace="..."/>`` without a schemaLocation.
NAMESPACES: dict[str, Path] = {
    XML_NAMESPACE: _XML_XSD,
    XMLDSIG_NAMESPACE: _XMLDSIG_XSD,
}

# Absolute locations seen in published schemas. Keys are normalised by _normalise (http scheme,
# no trailing slash), so the https spellings match too.
_LOCATIONS: dict[str, Path] = {
    "http://www.w3.org/2001/xml.xsd": _XML_XSD,
    # Dublin Core's schemas (dc.xsd, dcterms.xsd) import this older dated location.
    "http://www.w3.org/2001/03/xml.xsd": _XML_XSD,
    "http://www.w3.org/2009/01/xml.xsd": _XML_XSD,
    "http://www.w3.org/XML/1998/namespace": _XML_XSD,
    "http://www.w3.org/2000/09/xmldsig#": _XMLDSIG_XSD,
    "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd": _XMLDSIG_XSD,
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": _XMLDSIG_XSD,
    "http://www.w3.org/TR/2008/REC-xmldsig-core-20080610/xmldsig-core-schema.xsd": _XMLDSIG_XSD,
    "http://www.w3.org/TR/xmldsig-core1/xmldsig-core-schema.xsd": _XMLDSIG_XSD,
}


def _normalise(url: str) -> str:
    if url.startswith("https://"):
        url = "http://" + url[len("https://") :]
    return url.rstrip("/")


def local_copy(url: str) -> Path | None:
    """The shipped file standing in for the absolute ``url``, or None if there is none."""
    return _LOCATIONS.get(_normalise(url))


def namespace_copy(namespace: str) -> Path | None:
    """The shipped schema for ``namespace`` (imports without a schemaLocation), or None."""
    return NAMESPACES.get(namespace)


def known_locations() -> list[str]:
    """Every absolute location answered locally, for error messages and docs."""
    return sorted(_LOCATIONS)
