"""exchange.plugins: built-ins and entry points, imported lazily, with clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from exchange.errors import ConfigError
from exchange.plugins import PluginError, PluginRegistry


class Base:
    pass


class Good(Base):
    pass


@dataclass
class StandIn:
    name: str
    value: str
    target: Any = None
    loads: int = 0

    def load(self) -> Any:
        self.loads += 1
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def registry(*entries: StandIn) -> PluginRegistry[type[Base]]:
    return PluginRegistry(
        "widget",
        "exchange.widgets",
        {"plain": Good, "lazy": "exchange.plugins:PluginError", "gone": "no_such_module:Thing"},
        # Exceptions count too, so that a real module path can stand for a lazy built-in.
        check=lambda found: isinstance(found, type) and issubclass(found, Base | Exception),
        expected="a Base subclass",
        entry_points=list(entries),
    )


def test_builtins_and_entry_points_are_listed_without_importing() -> None:
    plugin = StandIn("extra", "pkg:Extra", Good)
    reg = registry(plugin)

    assert reg.kinds() == ["extra", "gone", "lazy", "plain"]
    assert plugin.loads == 0
    assert reg.get("extra") is Good and reg.get("extra") is Good
    assert plugin.loads == 1
    assert reg.get("lazy") is PluginError


def test_unknown_kind_says_did_you_mean_and_lists_the_known() -> None:
    with pytest.raises(PluginError) as caught:
        registry().get("plian")

    assert isinstance(caught.value, ConfigError)
    assert "unknown widget kind 'plian'; did you mean 'plain'?" in str(caught.value)
    assert "known kinds: gone, lazy, plain" in str(caught.value)
    assert "'exchange.widgets'" in str(caught.value)


def test_import_failure_names_the_kind_and_what_to_do() -> None:
    with pytest.raises(PluginError, match=r"widget kind 'gone' .* failed to import \(Module"):
        registry().get("gone")


def test_wrong_base_class_is_refused() -> None:
    with pytest.raises(PluginError, match=r"widget kind 'odd' from entry point .* is not a Base"):
        registry(StandIn("odd", "pkg:Odd", object)).get("odd")


def test_an_entry_point_cannot_replace_a_builtin() -> None:
    reg = registry(StandIn("plain", "evil:Plain", object))

    assert reg.get("plain") is Good
    assert reg.origin("plain") == "built-in"


# --- the families that use the registry: business rules and backbones --------------------


def test_a_rule_from_an_entry_point_is_bound_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from lxml import etree

    from exchange.schemas import checks

    def licence(text: str) -> str | None:
        return None if text.startswith("L-") else f"licence {text!r} must start with L-"

    registry = PluginRegistry(
        "business-rule",
        checks.ENTRY_POINT_GROUP,
        {},
        check=callable,
        expected="a function",
        entry_points=[StandIn("licence-no", "permits:licence", licence)],
    )
    monkeypatch.setattr(checks, "RULE_KINDS", registry)

    rule = checks.bind_rule("licence-no", "/Doc/Licence", {}, tmp_path, "manifest.yaml:4")
    tree = etree.fromstring(b"<Doc>\n<Licence>X-1</Licence></Doc>").getroottree()

    (problem,) = rule.check(tree)
    assert problem.message == "licence 'X-1' must start with L-" and problem.line == 2
    with pytest.raises(ConfigError, match=r"manifest.yaml:4: unknown rule 'licence-n'; did you"):
        checks.bind_rule("licence-n", "/Doc", {}, tmp_path, "manifest.yaml:4")


def test_builtin_rules_are_in_the_rule_registry() -> None:
    from exchange.schemas.checks import RULE_KINDS

    assert {"uscc", "resident-id", "division-code"} <= set(RULE_KINDS.kinds())


def test_a_backbone_from_an_entry_point_is_opened_by_its_scheme(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import exchange.backbone as backbone
    from exchange.settings import Settings

    opened: list[str] = []

    def memq(settings: Settings) -> Any:
        opened.append(settings.backbone)
        return backbone.EmbeddedBackbone(tmp_path / "memq.db")

    registry = PluginRegistry(
        "backbone",
        backbone.ENTRY_POINT_GROUP,
        dict(backbone.BACKBONE_KINDS._builtins),
        check=callable,
        expected="a function",
        entry_points=[StandIn("memq", "memq:open", memq)],
    )
    monkeypatch.setattr(backbone, "BACKBONE_KINDS", registry)
    # Settings validates EXCHANGE_BACKBONE against the built-ins; a copy skips that.
    settings = Settings(home=tmp_path).model_copy(update={"backbone": "memq://local"})

    assert isinstance(backbone.open_backbone(settings), backbone.EmbeddedBackbone)
    assert opened == ["memq://local"]
    typo = settings.model_copy(update={"backbone": "memk://local"})
    with pytest.raises(ConfigError, match=r"names no known backbone.*plug-ins memq"):
        backbone.open_backbone(typo)
