"""Who sends which type to whom: the loaded rules as a graph of four columns.

Senders → message types → routes → endpoints.  A sender is linked to the types its policy in
``senders.yaml`` lets it send (a ``*`` policy: to every type a route would take from it); a
type to the routes that match it; a route to each of its destinations, with the adapter chain
that destination's documents go through.  One type with several outgoing routes, or a route
with several destinations, is the "one source, shared by many" fan-out the page makes visible.

The graph comes from the rules alone (cheap, computed once per rule set); each edge's traffic
(rate and errors over a recent window) is laid over it per request by ``insight``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from exchange.adapters.base import AdapterSpec
from exchange.errors import ConfigError, ExchangeError
from exchange.routing.model import Endpoint, RestEndpoint, Route, SoapEndpoint
from exchange.ruleset import RuleSet

SENDER, TYPE, ROUTE, ENDPOINT = "sender", "type", "route", "endpoint"
COLUMNS = (SENDER, TYPE, ROUTE, ENDPOINT)


def node_id(column: str, name: str) -> str:
    return f"{column}:{name}"


@dataclass
class Node:
    column: str
    name: str
    title: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return node_id(self.column, self.name)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "column": self.column,
            "name": self.name,
            "title": self.title,
            **self.detail,
        }


@dataclass
class Edge:
    source: Node
    target: Node
    # route → endpoint edges: the translations on the way, each {name, version, kind, source,
    # target}; ``chain_error`` says why none could be worked out (the router will refuse).
    adapters: list[dict[str, str]] | None = None
    chain_resolved: bool = False
    chain_error: str | None = None
    conditional: bool = False  # the route has XPath conditions: only some messages take it
    wildcard: bool = False  # the sender's policy is '*'

    def key(self) -> tuple[str, str]:
        return (self.source.id, self.target.id)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{self.source.id}->{self.target.id}",
            "from": self.source.id,
            "to": self.target.id,
            "kind": f"{self.source.column}-{self.target.column}",
        }
        if self.adapters is not None or self.chain_error is not None:
            body["adapters"] = self.adapters or []
            body["chain_resolved"] = self.chain_resolved
            body["chain_error"] = self.chain_error
        if self.conditional:
            body["conditional"] = True
        if self.wildcard:
            body["wildcard"] = True
        return body


@dataclass
class Topology:
    nodes: dict[str, Node]
    edges: list[Edge]

    def nodes_in(self, column: str) -> list[Node]:
        return [node for node in self.nodes.values() if node.column == column]

    def as_json(self) -> dict[str, Any]:
        return {
            "columns": list(COLUMNS),
            "nodes": [node.as_json() for node in self.nodes.values()],
            "edges": [edge.as_json() for edge in self.edges],
        }


def build(rules: RuleSet) -> Topology:
    """The rule set's graph: every sender, routed type, route and endpoint, in file order."""
    graph = _Builder(rules)
    graph.add_routes()
    graph.add_senders()
    graph.add_unused_endpoints()
    return Topology(graph.nodes, graph.edges)


class _Builder:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.table = rules.routing
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self._edge_keys: set[tuple[str, str]] = set()
        # type name -> routes that take it (None: a route taking any type)
        self._routed: dict[str | None, list[Route]] = {}

    def add_routes(self) -> None:
        for route in self.table.routes:
            route_node = self._node(
                ROUTE,
                route.name,
                route.description,
                {
                    "senders": route.match.senders,
                    "xpath": list(route.match.xpath),
                    "message_type": self._type_name(route.match.message_type),
                },
            )
            type_name = self._type_name(route.match.message_type)
            self._routed.setdefault(type_name, []).append(route)
            if type_name is not None:
                self._edge(
                    self._type_node(type_name), route_node, conditional=bool(route.match.xpath)
                )
            for destination in route.destinations:
                endpoint = self.table.endpoints[destination.endpoint]
                edge = self._edge(route_node, self._endpoint_node(endpoint))
                self._chain(edge, type_name, endpoint, destination.adapters)

    def add_senders(self) -> None:
        for code, policy in self.table.senders.items():
            sender = self._node(SENDER, code, policy.name, {"may_send": list(policy.may_send)})
            if "*" in policy.may_send:
                for type_name, routes in self._routed.items():
                    if type_name is not None and any(_admits(route, code) for route in routes):
                        self._edge(sender, self._type_node(type_name), wildcard=True)
                continue
            for allowed in policy.may_send:
                type_name = self._type_name(allowed)
                if type_name is not None:
                    self._edge(sender, self._type_node(type_name))
        # A route that takes any type: every type its senders may send reaches it.
        for route in self._routed.get(None, []):
            route_node = self.nodes[node_id(ROUTE, route.name)]
            for edge in list(self.edges):
                if edge.source.column == SENDER and _admits(route, edge.source.name):
                    self._edge(edge.target, route_node, conditional=bool(route.match.xpath))

    def add_unused_endpoints(self) -> None:
        for endpoint in self.table.endpoints.values():
            self._endpoint_node(endpoint)

    # -- pieces --------------------------------------------------------------------------------

    def _type_name(self, name: str | None) -> str | None:
        """The schema name for a route's or policy's type (``{ns}root`` accepted too)."""
        if name is None:
            return None
        try:
            return self.rules.schemas.lookup(name).name
        except ExchangeError:
            return name  # not registered: shown under the name the file uses

    def _type_node(self, name: str) -> Node:
        versions = [s.version for s in self.rules.schemas if s.name == name]
        schema = next((s for s in self.rules.schemas if s.name == name), None)
        return self._node(
            TYPE,
            name,
            schema.title if schema else None,
            {"versions": versions, "registered": schema is not None},
        )

    def _endpoint_node(self, endpoint: Endpoint) -> Node:
        return self._node(
            ENDPOINT,
            endpoint.name,
            endpoint.title,
            {"kind": endpoint.kind, "format": endpoint.format, "address": _address(endpoint)},
        )

    def _node(self, column: str, name: str, title: str | None, detail: dict[str, Any]) -> Node:
        key = node_id(column, name)
        found = self.nodes.get(key)
        if found is None:
            found = self.nodes[key] = Node(column, name, title, detail)
        return found

    def _edge(
        self, source: Node, target: Node, *, conditional: bool = False, wildcard: bool = False
    ) -> Edge:
        key = (source.id, target.id)
        if key in self._edge_keys:
            return next(edge for edge in self.edges if edge.key() == key)
        self._edge_keys.add(key)
        edge = Edge(source, target, conditional=conditional, wildcard=wildcard)
        self.edges.append(edge)
        return edge

    def _chain(
        self,
        edge: Edge,
        type_name: str | None,
        endpoint: Endpoint,
        explicit: Iterable[str] | None,
    ) -> None:
        names = None if explicit is None else list(explicit)
        edge.chain_resolved = names is None
        if type_name is None:
            # Any type: the chain is resolved per message, from whatever type it is.
            edge.adapters = [] if names is None else [self._named(n) for n in names]
            return
        try:
            chain = self.rules.adapters.chain(type_name, endpoint.format, names)
        except ConfigError as exc:
            edge.adapters = None if names is None else [self._named(n) for n in names]
            edge.chain_error = str(exc)
            return
        edge.adapters = [_adapter_json(adapter.spec) for adapter in chain]

    def _named(self, name: str) -> dict[str, str]:
        if name in self.rules.adapters:
            return _adapter_json(self.rules.adapters.get(name).spec)
        return {"name": name, "version": "", "kind": "", "source": "", "target": ""}


def _admits(route: Route, sender: str) -> bool:
    return route.match.senders is None or sender in route.match.senders


def _address(endpoint: Endpoint) -> str:
    if isinstance(endpoint, RestEndpoint):
        return endpoint.url
    if isinstance(endpoint, SoapEndpoint):
        return endpoint.address or f"{endpoint.wsdl} ({endpoint.service}/{endpoint.operation})"
    return ""


def _adapter_json(spec: AdapterSpec) -> dict[str, str]:
    return {
        "name": spec.name,
        "version": spec.version,
        "kind": spec.kind,
        "source": spec.source,
        "target": spec.target,
    }
