"""Wrong adapter definitions: every problem named with its file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from adapter_test_helpers import stylesheet, xslt_manifest

from exchange.adapters import AdapterConfigError, AdapterRegistry
from exchange.errors import ConfigError

IDENTITY = stylesheet('<xsl:template match="/"><out/></xsl:template>')
GOOD_CLASS = (
    "from lxml import etree\n"
    "from exchange.adapters import PythonAdapter\n\n\n"
    "class Good(PythonAdapter):\n"
    "    def translate(self, document, envelope):\n"
    "        return document\n"
)


def python_manifest(name: str, cls: str = "adapter:Good", extra: str = "") -> str:
    return (
        f'name: {name}\nversion: "1.0"\nkind: python\nsource: a.In\ntarget: b.Out\n'
        f"class: {cls}\n{extra}"
    )


def load_problems(adapters_dir: Path) -> list[str]:
    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir, entry_points=False)
    assert isinstance(caught.value, ConfigError)
    return list(caught.value.problems)


def test_missing_key_names_the_file_and_what_to_add(write_adapter, adapters_dir: Path) -> None:
    folder = write_adapter(
        "t",
        'name: t\nversion: "1"\nkind: xslt\ntarget: b.Out\nstylesheet: t.xsl\n',
        {"t.xsl": IDENTITY},
    )

    assert load_problems(adapters_dir) == [
        f"{folder / 'adapter.yaml'}: missing required key 'source'; add source: <the message type "
        "it reads, such as samr.EnterpriseRegistration>"
    ]


def test_unknown_kind_names_the_line_and_suggests(write_adapter, adapters_dir: Path) -> None:
    folder = write_adapter("t", 'name: t\nversion: "1"\nkind: xsl\nsource: a.In\ntarget: b.Out\n')

    assert load_problems(adapters_dir) == [
        f"{folder / 'adapter.yaml'}:3: unknown kind 'xsl'; did you mean 'xslt'?"
    ]


def test_unknown_class_lists_the_classes_there(write_adapter, adapters_dir: Path) -> None:
    folder = write_adapter("t", python_manifest("t", "adapter:Goodd"), {"adapter.py": GOOD_CLASS})

    assert load_problems(adapters_dir) == [
        f"{folder / 'adapter.yaml'}:6: class 'Goodd' not found in adapter.py "
        "(adapter classes there: Good); fix the class name"
    ]


def test_class_that_is_not_a_python_adapter(write_adapter, adapters_dir: Path) -> None:
    write_adapter(
        "t", python_manifest("t", "adapter:Plain"), {"adapter.py": "class Plain:\n    pass\n"}
    )

    [problem] = load_problems(adapters_dir)
    assert "adapter.yaml:6: 'Plain' in adapter.py is not a subclass of" in problem
    assert "derive it from PythonAdapter" in problem


def test_missing_module_file_suggests_the_one_there(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", python_manifest("t", "adaptr:Good"), {"adapter.py": GOOD_CLASS})

    [problem] = load_problems(adapters_dir)
    assert "module file 'adaptr.py' does not exist" in problem
    assert "did you mean 'adapter'?" in problem


def test_malformed_class_reference(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", python_manifest("t", "adapter.Good"), {"adapter.py": GOOD_CLASS})

    [problem] = load_problems(adapters_dir)
    assert "class 'adapter.Good' is not of the form <module>:<Class>" in problem


def test_module_that_fails_to_import_names_the_file(write_adapter, adapters_dir: Path) -> None:
    folder = write_adapter("t", python_manifest("t"), {"adapter.py": "def broken(:\n"})

    [problem] = load_problems(adapters_dir)
    assert problem.startswith(f"{folder / 'adapter.py'}: importing it failed (SyntaxError")
    assert problem.endswith("fix the module")


def test_options_the_class_does_not_take(write_adapter, adapters_dir: Path) -> None:
    write_adapter(
        "t", python_manifest("t", extra='options:\n  office: "x"\n'), {"adapter.py": GOOD_CLASS}
    )

    [problem] = load_problems(adapters_dir)
    assert "constructing Good with options {'office': 'x'} failed (TypeError" in problem


def test_class_attributes_must_agree_with_the_manifest(write_adapter, adapters_dir: Path) -> None:
    code = GOOD_CLASS + "    source = 'other.In'\n"
    write_adapter("t", python_manifest("t"), {"adapter.py": code})

    [problem] = load_problems(adapters_dir)
    assert "source 'other.In' in the class but 'a.In' in adapter.yaml" in problem


@pytest.mark.parametrize("name", ["Samr-To-Canonical", "-leading", "with space", "ünicode"])
def test_bad_name_is_refused(write_adapter, adapters_dir: Path, name: str) -> None:
    write_adapter("t", xslt_manifest(f'"{name}"'), {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert f"adapter.yaml:1: name '{name}' is not allowed" in problem


def test_unknown_key_suggests_the_known_one(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", xslt_manifest("t") + "titel: Something\n", {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert problem.endswith("adapter.yaml:7: unknown key 'titel'; did you mean 'title'?")


def test_unquoted_version_must_be_quoted(write_adapter, adapters_dir: Path) -> None:
    write_adapter(
        "t", xslt_manifest("t").replace('version: "1.0"', "version: 1.10"), {"t.xsl": IDENTITY}
    )

    [problem] = load_problems(adapters_dir)
    assert "adapter.yaml:2: 'version' must be a non-empty string, got 1.1" in problem
    assert "quote numbers" in problem


def test_key_of_the_other_kind_is_refused(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", xslt_manifest("t") + "class: adapter:Good\n", {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert "'class' is only for kind python; remove it" in problem


def test_missing_stylesheet_file_suggests_the_one_there(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", xslt_manifest("t", "tt.xsl"), {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert "stylesheet 'tt.xsl' does not exist" in problem
    assert "did you mean 't.xsl'?" in problem


def test_stylesheet_outside_the_folder_is_refused(write_adapter, adapters_dir: Path) -> None:
    (adapters_dir / "shared.xsl").write_text(IDENTITY, encoding="utf-8")
    write_adapter("t", xslt_manifest("t", "../shared.xsl"))

    [problem] = load_problems(adapters_dir)
    assert "stylesheet '../shared.xsl' is outside the adapter folder" in problem


def test_option_that_is_not_a_stylesheet_param(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", xslt_manifest("t") + "options:\n  contry: CN\n", {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert "options contry of adapter 't' are not top-level xsl:param" in problem


def test_option_values_must_be_strings(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", xslt_manifest("t") + "options:\n  limit: 5\n", {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert "option 'limit' must be a string, got 5; quote the value" in problem


def test_yaml_syntax_error_names_the_line(write_adapter, adapters_dir: Path) -> None:
    write_adapter("t", 'name: t\nversion: "1.0\nkind: xslt\n')

    [problem] = load_problems(adapters_dir)
    assert "adapter.yaml:" in problem and "not valid YAML" in problem


def test_folder_without_manifest(adapters_dir: Path) -> None:
    (adapters_dir / "stray").mkdir()

    [problem] = load_problems(adapters_dir)
    assert problem == (
        f"{adapters_dir / 'stray'}: no adapter.yaml in this adapter folder; "
        "add one or move the folder away"
    )


def test_every_problem_is_reported_at_once(write_adapter, adapters_dir: Path) -> None:
    write_adapter("a", 'name: a\nversion: "1"\nkind: xsl\nsource: a.In\ntarget: b.Out\n')
    write_adapter("b", python_manifest("b", "adapter:Nope"), {"adapter.py": GOOD_CLASS})
    write_adapter("c", xslt_manifest("c"), {"t.xsl": IDENTITY})

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir, entry_points=False)

    assert len(caught.value.problems) == 2
    message = str(caught.value)
    assert message.startswith("2 problems with adapters:\n  - ")
    assert "a/adapter.yaml:3: unknown kind 'xsl'" in message
    assert "b/adapter.yaml:6: class 'Nope' not found" in message


def test_same_name_in_two_folders(write_adapter, adapters_dir: Path) -> None:
    write_adapter("one", xslt_manifest("same"), {"t.xsl": IDENTITY})
    write_adapter("two", xslt_manifest("same"), {"t.xsl": IDENTITY})

    [problem] = load_problems(adapters_dir)
    assert problem == (
        f"adapter name 'same' is used twice: {adapters_dir / 'one' / 'adapter.yaml'} and "
        f"{adapters_dir / 'two' / 'adapter.yaml'}; rename one of them"
    )


def test_hidden_and_underscore_folders_are_ignored(write_adapter, adapters_dir: Path) -> None:
    (adapters_dir / ".git").mkdir()
    (adapters_dir / "__pycache__").mkdir()
    (adapters_dir / "README.md").write_text("adapters\n", encoding="utf-8")
    write_adapter("t", xslt_manifest("t"), {"t.xsl": IDENTITY})

    assert [a.spec.name for a in AdapterRegistry.load(adapters_dir, entry_points=False)] == ["t"]
