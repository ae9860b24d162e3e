"""The console's topology: the rules as senders → types → routes → endpoints, with the
adapter chain on each destination and each edge's traffic from the aggregates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from exchange.console import topology
from exchange.console.topology_traffic import lay_over
from exchange.routing import RoutingTable
from exchange.routing.model import Destination, Endpoint, Match, Route, SenderPolicy
from exchange.ruleset import RuleSet
from exchange.store.latency import BUCKETS
from exchange.store.traffic import Figures

REPO = Path(__file__).resolve().parents[2]
SAMR = "samr.EnterpriseRegistration"


@pytest.fixture(scope="module")
def demo() -> RuleSet:
    return RuleSet.load(REPO)


def edge(body: dict[str, object], source: str, target: str) -> dict[str, object]:
    edges = body["edges"]
    assert isinstance(edges, list)
    found = [e for e in edges if e["from"] == source and e["to"] == target]
    assert len(found) == 1, f"{source} -> {target} not in {[(e['from'], e['to']) for e in edges]}"
    return found[0]  # type: ignore[no-any-return]


def test_the_demo_fans_one_registration_out_to_three_receivers(demo: RuleSet) -> None:
    body = topology.build(demo).as_json()
    ids = {node["id"] for node in body["nodes"]}
    assert {
        "sender:samr-reg",
        f"type:{SAMR}",
        "route:enterprise-registration-to-tax-and-registry",
        "route:enterprise-registration-with-employees-to-social-security",
        "endpoint:tax-bureau",
        "endpoint:social-security",
        "endpoint:legal-entity-registry",
    } <= ids
    edge(body, "sender:samr-reg", f"type:{SAMR}")
    fan_out = [e for e in body["edges"] if e["from"] == f"type:{SAMR}"]
    assert len(fan_out) == 2  # one source type, shared by two routes (three receivers)

    tax = edge(body, "route:enterprise-registration-to-tax-and-registry", "endpoint:tax-bureau")
    assert [a["name"] for a in tax["adapters"]] == ["samr-to-canonical", "canonical-to-tax"]
    assert tax["chain_resolved"] is True and tax["chain_error"] is None
    registry = edge(
        body, "route:enterprise-registration-to-tax-and-registry", "endpoint:legal-entity-registry"
    )
    assert [a["name"] for a in registry["adapters"]] == ["samr-to-canonical"]
    assert registry["chain_resolved"] is False  # named in the route file
    social = edge(
        body,
        "route:enterprise-registration-with-employees-to-social-security",
        "endpoint:social-security",
    )
    assert [a["name"] for a in social["adapters"]] == ["samr-to-canonical", "canonical-to-hrss"]
    assert [a["kind"] for a in social["adapters"]] == ["xslt", "python"]
    conditional = edge(
        body, f"type:{SAMR}", "route:enterprise-registration-with-employees-to-social-security"
    )
    assert conditional["conditional"] is True


def _rules(demo: RuleSet, routing: RoutingTable) -> RuleSet:
    return replace(demo, routing=routing)


def test_wildcard_senders_any_type_routes_and_broken_chains(demo: RuleSet) -> None:
    endpoints = {
        "registry": Endpoint(
            name="registry", url="http://127.0.0.1:9/r", format="canonical.LegalEntity"
        ),
        "archive": Endpoint(name="archive", url="http://127.0.0.1:9/a", format=SAMR),
        "unused": Endpoint(name="unused", url="http://127.0.0.1:9/u", format=SAMR),
    }
    routes = [
        Route(
            name="to-registry",
            match=Match(
                message_type="{urn:cn:gov:samr:enterprise-registration:1}EnterpriseRegistration"
            ),
            destinations=[Destination(endpoint="registry")],
        ),
        # A type no adapter leads from to the registry's format: the router would refuse it.
        Route(
            name="tax-to-registry",
            match=Match(message_type="tax.TaxpayerRegistration"),
            destinations=[Destination(endpoint="registry")],
        ),
        Route(
            name="archive-all",
            match=Match(senders=["anyone"]),
            destinations=[Destination(endpoint="archive")],
        ),
    ]
    senders = {
        "anyone": SenderPolicy(code="anyone", may_send=["*"]),
        "tax": SenderPolicy(code="tax", may_send=["tax.TaxpayerRegistration"]),
    }
    table = RoutingTable(endpoints=endpoints, routes=routes, senders=senders)
    body = topology.build(_rules(demo, table)).as_json()

    # the {namespace}root form of a type is shown under its schema name
    assert edge(body, f"type:{SAMR}", "route:to-registry")
    wildcard = edge(body, "sender:anyone", f"type:{SAMR}")
    assert wildcard["wildcard"] is True
    # a route for any type is reached from every type its senders may send
    edge(body, f"type:{SAMR}", "route:archive-all")
    archive = edge(body, "route:archive-all", "endpoint:archive")
    assert archive["adapters"] == []
    broken = edge(body, "route:tax-to-registry", "endpoint:registry")
    assert broken["adapters"] == []
    assert "tax.TaxpayerRegistration" in broken["chain_error"]
    # an endpoint no route uses is still shown, unconnected
    assert "endpoint:unused" in {node["id"] for node in body["nodes"]}
    assert not [e for e in body["edges"] if e["to"] == "endpoint:unused"]


def figures(sender: str, type_: str, route: str, endpoint: str, **counts: int) -> Figures:
    group = {"sender": sender, "message_type": type_, "route": route, "endpoint": endpoint}
    base = dict.fromkeys(
        ("accepted", "rejected", "delivered", "failed", "dead_lettered", "replayed"), 0
    )
    return Figures(group, {**base, **counts}, (0,) * BUCKETS, (0,) * BUCKETS)


def test_traffic_lands_on_the_edges_it_crossed(demo: RuleSet) -> None:
    graph = topology.build(demo)
    tax_route = "enterprise-registration-to-tax-and-registry"
    social_route = "enterprise-registration-with-employees-to-social-security"
    groups = [
        figures("samr-reg", SAMR, "", "", accepted=30, rejected=2),
        figures("samr-reg", SAMR, tax_route, "tax-bureau", delivered=28, failed=3),
        figures("samr-reg", SAMR, social_route, "social-security", delivered=10),
        # a delivery's dead letters know the endpoint, not the route: the type tells which
        figures("samr-reg", SAMR, "", "social-security", dead_lettered=4),
        figures("", "", "", "social-security", replayed=1),
    ]
    body = lay_over(graph, groups, seconds=60.0, window_s=60)

    sent = edge(body, "sender:samr-reg", f"type:{SAMR}")["traffic"]
    assert (
        sent["count"] == 32
        and sent["errors"] == 2
        and sent["rate"] == pytest.approx(32 / 60, abs=1e-3)
    )
    tax = edge(body, f"route:{tax_route}", "endpoint:tax-bureau")["traffic"]
    assert (tax["delivered"], tax["errors"]) == (28, 3)
    social = edge(body, f"route:{social_route}", "endpoint:social-security")["traffic"]
    assert (social["delivered"], social["dead_lettered"], social["errors"]) == (10, 4, 4)
    into_social = edge(body, f"type:{SAMR}", f"route:{social_route}")["traffic"]
    assert into_social["errors"] == 4
    untouched = edge(body, f"route:{tax_route}", "endpoint:legal-entity-registry")["traffic"]
    assert (untouched["count"], untouched["errors"], untouched["rate"]) == (0, 0, 0)
    nodes = {node["id"]: node["traffic"] for node in body["nodes"]}
    assert nodes["endpoint:social-security"]["dead_lettered"] == 4
    assert nodes["sender:samr-reg"]["rejected"] == 2
    assert body["window_s"] == 60
