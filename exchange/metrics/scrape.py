"""``GET /metrics``: every process's counts added up, and the backlog read at scrape time.

The backlog is not counted by anyone: it is asked of the backbone (``Backbone.backlog``) for
each consumer group and its topics when Prometheus scrapes, so it is exact at that moment
and costs the hot path nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from exchange.backbone.base import Backbone
from exchange.backbone.topics import DEAD_LETTERS, EVENTS, INBOUND, delivery_topic, retry_topic
from exchange.errors import ExchangeError
from exchange.ingress.problems import problem
from exchange.metrics import collection
from exchange.pipeline import delivery, documents, indexer, router
from exchange.ruleset import RuleSet

if TYPE_CHECKING:
    from exchange.hub import Hub

log = logging.getLogger(__name__)

PATH = "/metrics"


def consumer_groups(rules: RuleSet) -> list[tuple[str, list[str]]]:
    """Every consumer group of the hub and the topics it reads (see exchange/pipeline)."""
    endpoints = sorted(rules.routing.endpoints)
    groups = [
        (router.GROUP, [INBOUND]),
        (indexer.GROUP, [EVENTS, DEAD_LETTERS]),
        (documents.GROUP, documents.topics_of(rules)),
    ]
    groups += [
        (f"{delivery.GROUP}.{name}", [delivery_topic(name), retry_topic(name)])
        for name in endpoints
    ]
    return groups


async def read_backlog(
    backbone: Backbone, groups: Sequence[tuple[str, list[str]]]
) -> list[tuple[str, str, int]] | None:
    """(group, topic, records waiting) for every group, or None if the backbone did not say."""
    try:
        answers = await asyncio.gather(
            *(backbone.backlog(group, topics) for group, topics in groups)
        )
    except ExchangeError as exc:
        log.warning("metrics: the backlog could not be read: %s", exc)
        return None
    return [
        (group, topic, count)
        for (group, _), counts in zip(groups, answers, strict=True)
        for topic, count in counts.items()
    ]


class _Readings(Collector):
    """The values read for this scrape."""

    def __init__(self, backlog: list[tuple[str, str, int]] | None) -> None:
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        reachable = GaugeMetricFamily(
            "exchange_backbone_reachable",
            "1 if the backbone answered this scrape's backlog questions, else 0.",
        )
        reachable.add_metric([], 0.0 if self._backlog is None else 1.0)
        yield reachable
        backlog = GaugeMetricFamily(
            "exchange_backlog_records",
            "Records a consumer group has not yet consumed and committed, per topic (Kafka: "
            "consumer lag summed over partitions), read at scrape time.",
            labels=("group", "topic"),
        )
        for group, topic, count in self._backlog or []:
            backlog.add_metric([group, topic], float(count))
        yield backlog


class _InMemory(Collector):
    """This process's own registry, when it has no metrics folder."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


async def exposition(hub: Hub) -> bytes:
    """The text Prometheus reads."""
    groups = consumer_groups(hub.rules)
    backlog = await read_backlog(hub.backbone, groups)
    registry = CollectorRegistry(auto_describe=False)
    folder = collection.folder()
    if folder is not None:
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    else:
        own = collection.current().registry
        if own is not None:
            registry.register(_InMemory(own))
    registry.register(_Readings(backlog))
    # reading the processes' files is disk work: not on the event loop
    return await asyncio.to_thread(generate_latest, registry)


def install(app: FastAPI, hub: Hub) -> None:
    """Add ``GET /metrics`` (404 when metrics are off)."""
    key = hub.settings.metrics_key

    @app.get(PATH, summary="Metrics in the Prometheus text format", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not hub.settings.metrics:
            return problem(
                404, "Not found", "metrics are off here; set EXCHANGE_METRICS=true to collect them"
            )
        if key is not None and not _authorized(request, key):
            answer = problem(
                401,
                "Unauthenticated",
                "this hub's metrics need 'Authorization: Bearer <EXCHANGE_METRICS_KEY>'; "
                "give the scraper that key (Prometheus: authorization.credentials)",
            )
            answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return answer
        return Response(await exposition(hub), media_type=CONTENT_TYPE_LATEST)


def _authorized(request: Request, key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())
