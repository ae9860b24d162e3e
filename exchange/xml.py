"""Safe parsing of XML that senders write.

Nothing a sender writes can make the hub read a file, open a connection or
blow up memory:

- a document larger than ``max_bytes`` is refused before parsing (413);
- any DOCTYPE is refused outright (400): no DTD means no entity declarations,
  so no billion laughs, no quadratic blow-up, no external entities or DTDs,
  no parameter entities; the parser also runs with entity resolution, DTD
  loading and network access off, in case a DOCTYPE ever slipped past;
- processing instructions and comments are kept (they are harmless), XInclude
  is never run;
- nesting deeper than ``max_depth`` is refused (400); libxml2's own hard limit
  (256 without XML_PARSE_HUGE) backs this up;
- encodings are the ones libxml2 knows (UTF-8, UTF-16, GB18030, ...); bytes
  that do not decode are refused as malformed (400).
"""

from __future__ import annotations

import functools
import re
import threading

from lxml import etree

from exchange.errors import MalformedXml, PayloadTooLarge, Problem, UnsafeXml

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64

# Quick refusal before the parser sees the bytes; the parsed docinfo check
# below catches the same thing in encodings this pattern cannot see (UTF-16).
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


# lxml parsers are not thread-safe: keep one per thread.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _new_parser()
    return parser


def parse(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._ElementTree:
    """Parse untrusted bytes into a tree, or raise a RejectedMessage saying why not."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"message is {len(data)} bytes, over the limit of {max_bytes}; "
            "send a smaller document or ask the operators to raise EXCHANGE_MAX_MESSAGE_BYTES"
        )
    if not data.strip():
        raise MalformedXml("the body is empty; send the XML document as the request body")
    if _DOCTYPE.search(data) or _ENTITY.search(data):
        raise UnsafeXml(
            "DOCTYPE and ENTITY declarations are refused (they can read files or expand "
            "without bound); remove the DOCTYPE and send plain XML"
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc.msg):
            raise UnsafeXml(
                f"elements are nested deeper than {max_depth} levels; flatten the document"
            ) from exc
        line = exc.lineno if exc.lineno else None
        raise MalformedXml(
            f"not well-formed XML: {exc.msg}; fix the document and send it again",
            [Problem(message=str(exc.msg), line=line, rule="xml.well-formed")],
        ) from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    doctype = getattr(docinfo, "doctype", "")  # missing from the type stubs
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("DOCTYPE declarations are refused; remove the DOCTYPE and send plain XML")
    _check_depth(root, max_depth)
    return tree


@functools.lru_cache(maxsize=8)
def _deeper_than(max_depth: int) -> etree.XPath:
    # "/*/*/.../*" with max_depth + 1 steps selects an element nested too deep; libxml2
    # evaluates it in C, several times faster than walking the tree from Python.
    return etree.XPath("boolean(/*" + "/*" * max_depth + ")")


def _check_depth(root: etree._Element, max_depth: int) -> None:
    if _deeper_than(max_depth)(root):
        raise UnsafeXml(f"elements are nested deeper than {max_depth} levels; flatten the document")


def qualified_name(element: etree._Element) -> str:
    """Clark notation ``{namespace}local`` of an element: the default message type."""
    return str(element.tag)


def serialize(tree: etree._ElementTree | etree._Element) -> bytes:
    return etree.tostring(tree, encoding="UTF-8", xml_declaration=True)
