"""The router: inbound messages in, one translated copy per destination out.

For each message it evaluates the routing table, runs each destination's
adapter chain, validates what the chain produced against the receiver's schema
and publishes one record per destination.  Outputs and the input's offset are
committed together (atomically where the backbone is transactional), so a crash
never loses a message and, on such backbones, never duplicates one.  A message
that cannot be routed (a poison message, a failing adapter, an invalid output)
is dead-lettered with the reason and never blocks the ones behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lxml import etree

from exchange import logs, xml
from exchange.adapters import translate_chain
from exchange.backbone.base import Backbone, ConsumedRecord, Record, TopicPartition
from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.envelope import HEADERS, Envelope
from exchange.errors import ExchangeError, TranslationError
from exchange.pipeline.deadletter import dead_letter
from exchange.pipeline.events import publishable
from exchange.records import headers as h
from exchange.records.events import Destination, Routed
from exchange.ruleset import RuleSet

log = logging.getLogger(__name__)

GROUP = "router"


class Router:
    def __init__(self, backbone: Backbone, rules: Callable[[], RuleSet]) -> None:
        self._backbone = backbone
        self._rules = rules

    async def run(self, stop: asyncio.Event) -> None:
        consumer = await self._backbone.consumer(GROUP, [INBOUND])
        try:
            while not stop.is_set():
                batch = await consumer.fetch(max_records=200, timeout=0.2)
                if not batch:
                    continue
                outputs: list[Record] = []
                offsets: dict[TopicPartition, int] = {}
                for record in batch:
                    outputs.extend(self._route_safely(record))
                    offsets[record.position] = record.offset + 1
                    await asyncio.sleep(0)  # let the front door answer between messages
                await self._backbone.publish_and_commit(outputs, consumer, offsets)
        finally:
            await consumer.close()

    def _route_safely(self, record: ConsumedRecord) -> list[Record]:
        # log lines about this message carry its id (exchange.logs)
        token = logs.hub_id.set(record.headers.get(HEADERS["id"]))
        try:
            return self.route(record)
        except Exception as exc:
            # A bug must not turn one message into a poison that stops the partition.
            log.exception("routing offset %s failed", record.offset)
            headers = dict(record.headers)
            return dead_letter(
                envelope=Envelope.from_headers(headers),
                stage="route",
                reason=f"internal error while routing: {exc!r}; report it, then replay",
                payload=record.value,
                replay_topic=INBOUND,
                headers=headers,
            )
        finally:
            logs.hub_id.reset(token)

    def route(self, record: ConsumedRecord) -> list[Record]:
        """Records to publish for one inbound message (deliveries, dead letters, events)."""
        headers = dict(record.headers)
        envelope = Envelope.from_headers(headers)
        if h.CLAIM_ERROR in headers:
            return dead_letter(
                envelope=envelope,
                stage="route",
                reason=headers[h.CLAIM_ERROR],
                payload=record.value,
                replay_topic=INBOUND,
                headers=headers,
            )
        rules = self._rules()
        try:
            tree = xml.parse(record.value)
            schema = rules.schemas.lookup(envelope.message_type, envelope.schema_version)
            destinations = rules.routing.destinations_for(
                sender=envelope.sender, type_names=rules.type_names(schema), document=tree
            )
        except ExchangeError as exc:  # unreadable, unknown type, bad routing table
            reason = getattr(exc, "detail", str(exc))
            return dead_letter(
                envelope=envelope,
                stage="route",
                reason=f"cannot route: {reason}",
                payload=record.value,
                replay_topic=INBOUND,
                headers=headers,
            )
        only = headers.pop(h.ONLY_ENDPOINT, None)
        if only is not None:
            destinations = [d for d in destinations if d.endpoint.name == only]
        outputs: list[Record] = []
        routed: list[Destination] = []
        # One translation per chain prefix: a fan-out through the canonical model
        # translates to it once, not once per destination.
        prefixes: dict[tuple[str, ...], etree._ElementTree] = {}
        if not destinations:
            return dead_letter(
                envelope=envelope,
                stage="route",
                reason="no route takes this message any more; add a route and replay it",
                payload=record.value,
                replay_topic=INBOUND,
                headers=headers,
            )
        for dest in destinations:
            endpoint = dest.endpoint
            names: list[str] = []
            try:
                chain = rules.adapters.chain(schema.name, endpoint.format, dest.adapters)
                names = [adapter.spec.name for adapter in chain]
                translated = translate_chain(chain, tree, envelope, prefixes) if chain else tree
                target = rules.schemas.lookup(endpoint.format)
                problems = target.validate(translated)
                if problems:
                    listed = "; ".join(
                        f"line {p.line}: {p.message}" if p.line else p.message for p in problems[:5]
                    )
                    raise TranslationError(
                        f"adapter chain {names or '(none)'} produced a document that is not "
                        f"valid {endpoint.format}: {listed}; fix the adapter, then replay",
                        problems,
                    )
            except ExchangeError as exc:
                reason = getattr(exc, "detail", str(exc))
                outputs.extend(
                    dead_letter(
                        envelope=envelope,
                        stage="route",
                        reason=f"translation for {endpoint.name} failed: {reason}",
                        payload=record.value,
                        replay_topic=INBOUND,
                        headers={**headers, h.ONLY_ENDPOINT: endpoint.name},
                        endpoint=endpoint.name,
                    )
                )
                continue
            out_headers = {
                **headers,
                h.ROUTE: dest.route,
                h.ADAPTERS: ",".join(names),
                h.ENDPOINT: endpoint.name,
            }
            outputs.append(
                Record(
                    topic=delivery_topic(endpoint.name),
                    value=xml.serialize(translated),
                    key=envelope.correlation_id,
                    headers=out_headers,
                )
            )
            routed.append(
                Destination(endpoint=endpoint.name, route=dest.route, adapters=tuple(names))
            )
        if routed:
            outputs.append(publishable(Routed(id=envelope.id, destinations=tuple(routed))))
        return outputs
