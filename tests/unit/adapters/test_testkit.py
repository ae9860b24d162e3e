"""The test kit's canonical comparison and its handling of golden-case folders."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from exchange.adapters.testkit import first_difference, golden_cases, xml_diff


def tree(text: str) -> etree._ElementTree:
    return etree.fromstring(text.encode()).getroottree()


def test_layout_comments_attribute_order_and_prefixes_do_not_matter() -> None:
    expected = tree('<a xmlns="urn:x" k="1" j="2">\n  <b>text</b>\n  <!-- why -->\n  <c/>\n</a>')
    actual = tree('<p:a xmlns:p="urn:x" j="2" k="1"><p:b>text</p:b><p:c></p:c></p:a>')
    assert xml_diff(expected, actual) is None


def test_text_is_significant_including_its_spaces() -> None:
    diff = xml_diff(tree("<a><b>x y</b></a>"), tree("<a><b>x  y</b></a>"))
    assert diff is not None
    assert diff.splitlines()[0] == "first difference at /a/b/text(): 'x  y', expected 'x y'"


def test_first_difference_names_missing_extra_and_attribute_paths() -> None:
    def first(want: str, got: str) -> str:
        return first_difference(etree.fromstring(want), etree.fromstring(got))

    assert first("<a><b/><b/></a>", "<a><b/></a>") == "/a/b[2]: element missing"
    assert first("<a><b/></a>", "<a><b/><c/></a>") == "/a/c: unexpected element"
    assert first('<a><b k="1"/></a>', '<a><b k="2"/></a>') == "/a/b/@k: '2', expected '1'"
    assert first("<a><b/></a>", "<a><c/></a>") == "/a/b: element is c, expected b"


def test_the_diff_is_a_unified_diff_of_pretty_canonical_forms() -> None:
    diff = xml_diff(
        tree("<a><b>1</b><c>2</c></a>"), tree("<a><b>1</b><c>3</c></a>"), expected_name="want"
    )
    assert diff is not None
    lines = diff.splitlines()
    assert lines[1:3] == ["--- want", "+++ actual"]
    assert "-  <c>2</c>" in lines and "+  <c>3</c>" in lines


def test_golden_cases_pair_inputs_with_expected_documents(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("one.input.xml", "one.expected.xml", "lonely.input.xml", "orphan.expected.xml"):
        (tests / name).write_text("<a/>", encoding="utf-8")
    cases = {c.name: (c.input is not None, c.expected is not None) for c in golden_cases(tmp_path)}
    assert cases == {"one": (True, True), "lonely": (True, False), "orphan": (False, True)}
    assert golden_cases(tmp_path / "nowhere") == []
