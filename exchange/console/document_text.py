"""A kept document as text for the console to show: decoded and indented.

The bytes are parsed with the hub's safe parser (no DTDs or entities, bounded depth) and
written back as UTF-8 text, each element on a line of its own, indented by two spaces.
Whitespace-only text between elements is redone; other text is left as it was.  Bytes
that do not parse (they were checked on the way in, so this means a store from elsewhere)
are shown as they are, decoded leniently.  Never HTML: the console renders the text with
``textContent`` and colours it itself (static/views/xml_highlight.js).
"""

from __future__ import annotations

from lxml import etree

from exchange import xml
from exchange.errors import ExchangeError

INDENT = "  "


def pretty(body: bytes) -> str:
    try:
        tree = xml.parse(body, max_bytes=max(len(body), 1))
    except ExchangeError:
        return body.decode("utf-8", errors="replace")
    etree.indent(tree, space=INDENT)
    text: str = etree.tostring(tree, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"
