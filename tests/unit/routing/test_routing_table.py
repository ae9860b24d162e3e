"""Matching: by message type, sender and XPath; fan-out with one delivery per endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from exchange.errors import ConfigError
from exchange.routing import (
    Destination,
    Endpoint,
    Match,
    Route,
    RoutedDestination,
    RoutingTable,
    SenderPolicy,
)

VALID = Path(__file__).parent / "fixtures" / "valid"
NS = "urn:cn:gov:samr:enterprise-registration:1"
REGISTRATION = frozenset({"samr.EnterpriseRegistration", f"{{{NS}}}EnterpriseRegistration"})


def registration(
    *, employees: str = "12", province: str = "31", name: str = "Acme"
) -> etree._ElementTree:
    root = etree.fromstring(
        f'<EnterpriseRegistration xmlns="{NS}"><Name>{name}</Name>'
        f"<Province>{province}</Province><EmployeeCount>{employees}</EmployeeCount>"
        "</EnterpriseRegistration>"
    )
    return etree.ElementTree(root)


def summary(destinations: list[RoutedDestination]) -> list[tuple[str, str, tuple[str, ...] | None]]:
    return [(d.endpoint.name, d.route, d.adapters) for d in destinations]


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load(VALID)


def test_fan_out_in_file_order_with_adapters(table: RoutingTable) -> None:
    found = table.destinations_for(
        sender="samr-reg", type_names=REGISTRATION, document=registration()
    )

    assert summary(found) == [
        ("tax-bureau", "enterprise-registration-to-tax", None),
        (
            "social-security",
            "enterprise-registration-with-employees-to-social-security",
            None,
        ),
        (
            "legal-entity-registry",
            "enterprise-registration-with-employees-to-social-security",
            ("samr-to-canonical",),
        ),
        ("statistics-bureau", "shanghai-registrations-to-statistics", None),
    ]
    assert found[0].endpoint is table.endpoints["tax-bureau"]


@pytest.mark.parametrize("employees", ["0", "", "many"])
def test_false_number_predicate_skips_the_route(table: RoutingTable, employees: str) -> None:
    found = table.destinations_for(
        sender="samr-reg", type_names=REGISTRATION, document=registration(employees=employees)
    )

    # The endpoint the skipped route shared is still reached, through the next route.
    assert summary(found) == [
        ("tax-bureau", "enterprise-registration-to-tax", None),
        ("legal-entity-registry", "every-registration-to-legal-entity-registry", None),
        ("statistics-bureau", "shanghai-registrations-to-statistics", None),
    ]


def test_node_set_and_string_predicates(table: RoutingTable) -> None:
    def endpoints(document: etree._ElementTree) -> list[str]:
        found = table.destinations_for(
            sender="samr-reg", type_names=REGISTRATION, document=document
        )
        return [d.endpoint.name for d in found]

    assert "statistics-bureau" in endpoints(registration())
    assert "statistics-bureau" not in endpoints(registration(province="11"))  # empty node-set
    assert "statistics-bureau" not in endpoints(registration(name=""))  # empty string


def test_sender_filter(table: RoutingTable) -> None:
    found = table.destinations_for(
        sender="tax-sys", type_names=REGISTRATION, document=registration(province="11")
    )

    assert summary(found) == [
        ("tax-bureau", "enterprise-registration-to-tax", None),
        ("legal-entity-registry", "every-registration-to-legal-entity-registry", None),
        ("statistics-bureau", "everything-from-tax-to-statistics", ("tax-to-stats",)),
    ]


def test_same_endpoint_from_several_routes_is_delivered_once_first_route_wins(
    table: RoutingTable,
) -> None:
    # Both the Shanghai route and the any-type tax route reach statistics-bureau.
    found = table.destinations_for(
        sender="tax-sys", type_names=REGISTRATION, document=registration()
    )

    statistics = [d for d in found if d.endpoint.name == "statistics-bureau"]
    assert [(d.route, d.adapters) for d in statistics] == [
        ("shanghai-registrations-to-statistics", None)
    ]


def test_type_matches_by_any_of_its_names(table: RoutingTable) -> None:
    by_qname_only = frozenset({f"{{{NS}}}EnterpriseRegistration"})

    found = table.destinations_for(
        sender="samr-reg", type_names=by_qname_only, document=registration()
    )

    assert summary(found) == [
        ("legal-entity-registry", "every-registration-to-legal-entity-registry", None)
    ]


def test_unknown_type_reaches_only_routes_without_a_type(table: RoutingTable) -> None:
    other = frozenset({"tax.TaxpayerRegistration"})
    document = registration()

    assert table.destinations_for(sender="samr-reg", type_names=other, document=document) == []
    found = table.destinations_for(sender="tax-sys", type_names=other, document=document)
    assert [d.route for d in found] == ["everything-from-tax-to-statistics"]


def test_cached_plans_still_evaluate_each_document(table: RoutingTable) -> None:
    def count(employees: str) -> int:
        document = registration(employees=employees)
        found = table.destinations_for(
            sender="samr-reg", type_names=REGISTRATION, document=document
        )
        return len(found)

    assert [count("5"), count("0"), count("5")] == [4, 3, 4]


def test_answer_without_predicates_is_a_fresh_list_each_time(table: RoutingTable) -> None:
    other = frozenset({"tax.TaxpayerRegistration"})
    first = table.destinations_for(sender="tax-sys", type_names=other, document=registration())
    first.clear()

    again = table.destinations_for(sender="tax-sys", type_names=other, document=registration())

    assert len(again) == 1


def test_may_send(table: RoutingTable) -> None:
    assert table.may_send("samr-reg", REGISTRATION)
    assert table.may_send("samr-reg", frozenset({"other.Name", "samr.EnterpriseRegistration"}))
    assert not table.may_send("samr-reg", frozenset({f"{{{NS}}}EnterpriseRegistration"}))
    assert not table.may_send("samr-reg", frozenset({"tax.TaxpayerRegistration"}))
    assert table.may_send("tax-sys", frozenset({"anything.AtAll"}))
    assert not table.may_send("stranger", REGISTRATION)


ENDPOINT = Endpoint(name="sink", url="http://127.0.0.1:9/sink", format="x.Y")
OTHER = Endpoint(name="other", url="http://127.0.0.1:9/other", format="x.Y")


def test_xpath_error_at_run_time_is_no_match_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # The pattern comes from the message, so only this message's data makes it fail.
    regex = Route(
        name="pattern-from-the-message",
        match=Match(xpath=["re:test(string(/r/text), string(/r/pattern))"]),
        namespaces={"re": "http://exslt.org/regular-expressions"},
        destinations=[Destination(endpoint="sink")],
    )
    fallback = Route(name="fallback", destinations=[Destination(endpoint="other")])
    table = RoutingTable(endpoints={"sink": ENDPOINT, "other": OTHER}, routes=[regex, fallback])

    def routes_for(xml: str) -> list[str]:
        document = etree.ElementTree(etree.fromstring(xml))
        found = table.destinations_for(sender="s", type_names=frozenset({"r"}), document=document)
        return [d.route for d in found]

    assert routes_for("<r><text>abc</text><pattern>b+</pattern></r>") == [
        "pattern-from-the-message",
        "fallback",
    ]
    assert routes_for("<r><text>abc</text><pattern>[</pattern></r>") == ["fallback"]
    assert "route pattern-from-the-message: XPath" in caplog.text


def test_empty_sender_list_matches_nobody() -> None:
    route = Route(
        name="closed", match=Match(senders=[]), destinations=[Destination(endpoint="sink")]
    )
    table = RoutingTable(endpoints={"sink": ENDPOINT}, routes=[route])

    assert table.destinations_for(sender="s", type_names=frozenset(), document=registration()) == []


def test_built_directly_the_table_refuses_what_load_would_report() -> None:
    unknown = Route(name="r", destinations=[Destination(endpoint="nowhere")])
    with pytest.raises(ConfigError, match="route 'r': endpoint 'nowhere' is not defined"):
        RoutingTable(endpoints={"sink": ENDPOINT}, routes=[unknown])

    bad_xpath = Route(
        name="r", match=Match(xpath=["/p:x"]), destinations=[Destination(endpoint="sink")]
    )
    with pytest.raises(ConfigError, match="undeclared prefix 'p'"):
        RoutingTable(endpoints={"sink": ENDPOINT}, routes=[bad_xpath])


def test_senders_are_exposed_read_only(table: RoutingTable) -> None:
    assert isinstance(table.senders["tax-sys"], SenderPolicy)
    with pytest.raises(TypeError):
        table.senders["x"] = table.senders["tax-sys"]  # type: ignore[index]
