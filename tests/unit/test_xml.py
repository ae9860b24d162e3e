from __future__ import annotations

from pathlib import Path

import pytest

from exchange import xml
from exchange.errors import MalformedXml, PayloadTooLarge, UnsafeXml
from tests.hostile import all_attacks, xinclude


@pytest.mark.parametrize("name", sorted(all_attacks(Path("/etc/hostname"), "http://127.0.0.1:9/x")))
def test_attacks_are_refused(name: str) -> None:
    body, _ = all_attacks(Path("/etc/hostname"), "http://127.0.0.1:9/x")[name]
    with pytest.raises((UnsafeXml, MalformedXml)):
        xml.parse(body)


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        xml.parse(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)


def test_depth_limit_is_configurable() -> None:
    doc = b"<a>" * 10 + b"</a>" * 10
    assert xml.parse(doc, max_depth=10).getroot().tag == "a"
    with pytest.raises(UnsafeXml):
        xml.parse(doc, max_depth=9)


def test_xinclude_is_left_alone() -> None:
    tree = xml.parse(xinclude(Path("/etc/hostname")))
    assert tree.getroot()[0].tag == "{http://www.w3.org/2001/XInclude}include"


def test_gb18030_documents_are_read() -> None:
    doc = '<?xml version="1.0" encoding="GB18030"?><名称>南宁</名称>'.encode("gb18030")
    assert xml.parse(doc).getroot().text == "南宁"


def test_malformed_reports_the_line() -> None:
    with pytest.raises(MalformedXml) as caught:
        xml.parse(b"<a>\n\n<b></a>")
    assert caught.value.problems[0].line == 3
