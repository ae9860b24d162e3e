"""Loading a routes folder: valid tables, and every kind of problem at its file and line.

The broken fixtures carry their expectations inline: a line that should be
reported ends with ``# expect: <text the problem must contain>``.  The test
fails on a missing problem, on a problem at another line, and on a problem
nobody expected.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.routing import LintProblem, RetryPolicy, RoutingTable, lint

FIXTURES = Path(__file__).parent / "fixtures"
VALID = FIXTURES / "valid"
BROKEN = FIXTURES / "broken"
_EXPECT = re.compile(r"#\s*expect:\s*(.+?)\s*$")


def expectations(folder: Path) -> dict[tuple[str, int], str]:
    expected: dict[tuple[str, int], str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
            continue
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found = _EXPECT.search(text)
            if found:
                expected[(path.name, number)] = found.group(1)
    return expected


def reported(problem: LintProblem) -> str:
    """The problem as printed, without the file:line prefix."""
    return str(problem).split(": ", 1)[1]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_FIXTURE_TOKEN", "secret")
    monkeypatch.delenv("ROUTING_TEST_UNSET_TOKEN", raising=False)


def test_valid_multi_file_table_loads_in_file_order() -> None:
    table = RoutingTable.load(VALID)

    assert list(table.endpoints) == [
        "tax-bureau",
        "social-security",
        "legal-entity-registry",
        "statistics-bureau",
    ]
    assert [route.name for route in table.routes] == [
        "enterprise-registration-to-tax",
        "enterprise-registration-with-employees-to-social-security",
        "every-registration-to-legal-entity-registry",
        "shanghai-registrations-to-statistics",
        "everything-from-tax-to-statistics",
    ]
    assert list(table.senders) == ["samr-reg", "tax-sys"]
    assert table.senders["samr-reg"].name == "市场监管局企业登记系统"
    tax = table.endpoints["tax-bureau"]
    assert tax.timeout == 5
    assert tax.retry == RetryPolicy(attempts=5, initial_backoff=0.5)
    # ${VAR} stays as written: the egress substitutes it when it sends.
    assert table.endpoints["social-security"].headers == {
        "Authorization": "Bearer ${ROUTING_FIXTURE_TOKEN}"
    }


def test_valid_table_lints_clean() -> None:
    assert lint(VALID) == []


def test_every_problem_is_reported_at_its_file_and_line() -> None:
    expected = expectations(BROKEN)
    problems = lint(BROKEN)

    found = {(p.file.name, p.line): reported(p) for p in problems}
    assert len(found) == len(problems), "two problems on one line; give each its own line"
    assert sorted(found) == sorted(expected)
    for place, text in expected.items():
        assert text in found[place], f"{place}: {found[place]!r} lacks {text!r}"


def test_problems_are_ordered_by_file_then_line() -> None:
    problems = lint(BROKEN)
    assert [(p.file.name, p.line or 0) for p in problems] == sorted(
        (p.file.name, p.line or 0) for p in problems
    )


def test_load_raises_one_config_error_listing_every_error() -> None:
    with pytest.raises(ConfigError) as caught:
        RoutingTable.load(BROKEN)

    message = str(caught.value)
    errors = [p for p in lint(BROKEN) if p.severity == "error"]
    assert message.splitlines()[0].endswith(f"has {len(errors)} problems; fix and reload:")
    for problem in errors:
        assert f"{problem.file.name}:{problem.line}: {problem.message}" in message
    assert "warning" not in message


def test_warnings_do_not_stop_the_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "routes.yaml").write_text(
        "endpoints:\n"
        "  - name: e\n"
        "    url: http://127.0.0.1:9/e\n"
        "    format: x.Y\n"
        "    headers: {X-Key: '${ROUTING_TEST_UNSET_TOKEN}'}\n"
        "routes:\n"
        "  - name: r\n"
        "    match: {senders: [nobody]}\n"
        "    destinations: [{endpoint: e}]\n",
        encoding="utf-8",
    )

    table = RoutingTable.load(tmp_path)

    assert [route.name for route in table.routes] == ["r"]
    warnings = lint(tmp_path)
    assert [(p.line, p.severity) for p in warnings] == [(5, "warning"), (8, "warning")]
    assert "ROUTING_TEST_UNSET_TOKEN" in caplog.text
    assert "sender 'nobody' is not listed" in caplog.text


def test_header_variable_present_in_the_environment_is_not_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "e.yaml").write_text(
        "endpoints:\n"
        "  - name: e\n"
        "    url: http://127.0.0.1:9/e\n"
        "    format: x.Y\n"
        "    headers: {Authorization: 'Bearer ${ROUTING_TEST_UNSET_TOKEN}'}\n",
        encoding="utf-8",
    )
    assert any("ROUTING_TEST_UNSET_TOKEN" in p.message for p in lint(tmp_path))

    monkeypatch.setenv("ROUTING_TEST_UNSET_TOKEN", "x")

    assert not any("ROUTING_TEST_UNSET_TOKEN" in p.message for p in lint(tmp_path))


def test_empty_folder_is_an_empty_table_but_lint_says_no_routes(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    (tmp_path / "sections-without-items.yml").write_text("routes:\nendpoints:\n", encoding="utf-8")

    table = RoutingTable.load(tmp_path)

    assert (dict(table.endpoints), list(table.routes), dict(table.senders)) == ({}, [], {})
    problems = lint(tmp_path)
    assert [(p.file, p.line, p.severity) for p in problems] == [(tmp_path, None, "warning")]
    assert problems[0].message.startswith("no routes defined")


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="routes folder does not exist"):
        RoutingTable.load(tmp_path / "nope")


def test_yaml_anchors_and_merge_keys_keep_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "x-defaults: &defaults\n  format: x.Y\n",
        encoding="utf-8",
    )
    (tmp_path / "s.yaml").write_text(
        "endpoints:\n"
        "  - &base\n"
        "    name: a\n"
        "    url: http://127.0.0.1:9/a\n"
        "    format: x.Y\n"
        "  - <<: *base\n"
        "    name: b\n"
        "    timeout: -1\n",
        encoding="utf-8",
    )

    problems = [p for p in lint(tmp_path) if p.severity == "error"]

    assert [(p.file.name, p.line) for p in problems] == [
        ("r.yaml", 1),
        ("s.yaml", 8),
    ]
    assert "unknown section 'x-defaults'" in problems[0].message
    assert "endpoint 'b': timeout: Input should be greater than 0" in problems[1].message


def test_problem_prints_as_file_line_message() -> None:
    problem = LintProblem(Path("routes/x.yaml"), 12, "route 'r': something")
    assert str(problem) == "routes/x.yaml:12: route 'r': something"
    assert str(LintProblem(Path("routes"), None, "no routes defined", "warning")) == (
        "routes: warning: no routes defined"
    )


def test_recursive_and_exploding_aliases_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a-recursive.yaml").write_text(
        "routes:\n  - name: r\n    destinations: &loop [*loop]\n", encoding="utf-8"
    )
    bomb = ["routes:", "  - name: bomb", "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    (tmp_path / "b-bomb.yaml").write_text("\n".join(bomb) + "\n", encoding="utf-8")

    problems = [p for p in lint(tmp_path) if p.severity == "error"]

    assert [(p.file.name, p.line) for p in problems] == [
        ("a-recursive.yaml", 2),
        ("b-bomb.yaml", 2),
    ]
    assert all("recursive or repeated aliases" in p.message for p in problems)
