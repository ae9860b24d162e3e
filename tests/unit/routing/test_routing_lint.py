"""lint(): cross-references to the schema and adapter registries and the chain resolver."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.routing import LintProblem, lint

VALID = Path(__file__).parent / "fixtures" / "valid"
NS = "urn:cn:gov:samr:enterprise-registration:1"
SCHEMAS = frozenset(
    {
        "samr.EnterpriseRegistration",
        f"{{{NS}}}EnterpriseRegistration",
        "tax.TaxpayerRegistration",
        "hrss.InsuredEmployer",
        "canonical.LegalEntity",
        "stats.Notification",
    }
)
ADAPTERS = frozenset({"samr-to-canonical", "tax-to-stats"})


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_FIXTURE_TOKEN", "secret")


def places(problems: list[LintProblem]) -> list[tuple[str, int | None]]:
    return [(p.file.name, p.line) for p in problems]


def test_known_names_give_no_problems() -> None:
    assert lint(VALID, schema_names=SCHEMAS, adapter_names=ADAPTERS) == []


def test_unknown_message_types_in_routes_endpoints_and_sender_policies() -> None:
    problems = lint(VALID, schema_names=SCHEMAS - {"samr.EnterpriseRegistration"})

    assert places(problems) == [
        ("20-registration.yaml", 4),
        ("20-registration.yaml", 9),
        ("20-registration.yaml", 25),
        ("30-statistics.yml", 10),
    ]
    assert problems[0].message == (
        "route 'enterprise-registration-to-tax': message type 'samr.EnterpriseRegistration' "
        "has no schema — fix the name or add the schema"
    )
    assert problems[2].message.startswith("sender 'samr-reg': message type")


def test_unknown_endpoint_format_with_suggestion() -> None:
    schemas = (SCHEMAS - {"stats.Notification"}) | {"stats.Notifications"}

    problems = lint(VALID, schema_names=schemas)

    assert places(problems) == [("30-statistics.yml", 4)]
    assert "endpoint 'statistics-bureau': message type 'stats.Notification' has no schema" in (
        problems[0].message
    )
    assert "(did you mean 'stats.Notifications'?)" in problems[0].message


def test_unknown_adapter_names() -> None:
    problems = lint(VALID, adapter_names={"samr-to-canonical", "tax-to-statistics"})

    assert places(problems) == [("30-statistics.yml", 22)]
    assert problems[0].message == (
        "route 'everything-from-tax-to-statistics': adapter 'tax-to-stats' is not registered "
        "(did you mean 'tax-to-statistics'?) — fix the name or install it"
    )


class FakeResolver:
    """Records each question; refuses the pairs it is told to."""

    def __init__(self, refuse: dict[tuple[str, str], Exception] | None = None) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...] | None]] = []
        self.refuse = refuse or {}

    def __call__(self, source: str, target: str, adapters: Sequence[str] | None) -> object:
        self.calls.append((source, target, None if adapters is None else tuple(adapters)))
        error = self.refuse.get((source, target))
        if error is not None:
            raise error
        return ["a chain"]


def test_resolver_is_asked_about_every_typed_destination() -> None:
    resolver = FakeResolver()

    assert lint(VALID, schema_names=SCHEMAS, adapter_names=ADAPTERS, resolve_chain=resolver) == []

    samr = "samr.EnterpriseRegistration"
    assert resolver.calls == [
        (samr, "tax.TaxpayerRegistration", None),
        (samr, "hrss.InsuredEmployer", None),
        (samr, "canonical.LegalEntity", ("samr-to-canonical",)),
        (f"{{{NS}}}EnterpriseRegistration", "canonical.LegalEntity", None),
        (samr, "stats.Notification", None),
        # the any-type route has no source type to resolve from
    ]


def test_resolver_errors_are_reported_at_the_destination() -> None:
    resolver = FakeResolver(
        {
            ("samr.EnterpriseRegistration", "hrss.InsuredEmployer"): ConfigError(
                "no adapter chain from samr.EnterpriseRegistration to hrss.InsuredEmployer "
                "— add an adapter or name the chain"
            ),
            ("samr.EnterpriseRegistration", "stats.Notification"): KeyError("boom"),
        }
    )

    problems = lint(VALID, resolve_chain=resolver)

    assert places(problems) == [("20-registration.yaml", 14), ("30-statistics.yml", 16)]
    assert problems[0].message == (
        "route 'enterprise-registration-with-employees-to-social-security': no adapter chain "
        "from 'samr.EnterpriseRegistration' to endpoint 'social-security' "
        "(hrss.InsuredEmployer): no adapter chain from samr.EnterpriseRegistration to "
        "hrss.InsuredEmployer — add an adapter or name the chain"
    )
    assert problems[1].message.endswith("(stats.Notification): 'boom'")


def test_destinations_already_reported_are_not_resolved() -> None:
    resolver = FakeResolver()

    problems = lint(
        VALID,
        schema_names=SCHEMAS - {"hrss.InsuredEmployer"},
        adapter_names=ADAPTERS - {"samr-to-canonical"},
        resolve_chain=resolver,
    )

    assert len(problems) == 2  # the unknown format and the unknown adapter, once each
    targets = [target for _, target, _ in resolver.calls]
    assert "hrss.InsuredEmployer" not in targets
    assert ("samr.EnterpriseRegistration", "canonical.LegalEntity", ("samr-to-canonical",)) not in (
        resolver.calls
    )
    assert len(resolver.calls) == 3
