"""The router: inbound messages in, one translated copy per destination out.

For each message it evaluates the routing table, runs each destination's
adapter chain, validates what the chain produced against the receiver's schema
and publishes one record per destination.  Outputs and the input's offset are
committed together (atomically where the backbone is transactional), so a crash
never loses a message and, on such backbones, never duplicates one.  A message
that cannot be routed (a poison message, a failing adapter, an invalid output)
is dead-lettered with the reason and never blocks the ones behind it, nor does
an adapter that runs past its time limit (``exchange.adapters.time_limit``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from functools import partial

from lxml import etree

from exchange import logs, xml
from exchange.adapters import translate_chain
from exchange.adapters.time_limit import (
    Finished,
    Runaway,
    Translator,
    Watch,
)
from exchange.backbone.base import Backbone, ConsumedRecord, Record, TopicPartition
from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.envelope import HEADERS, Envelope
from exchange.errors import ExchangeError, TranslationError
from exchange.pipeline.deadletter import dead_letter
from exchange.pipeline.events import publishable
from exchange.records import headers as h
from exchange.records.events import Destination, Routed
from exchange.ruleset import RuleSet
from exchange.settings import load_settings

log = logging.getLogger(__name__)

GROUP = "router"


class Router:
    """Routes the inbound topic's records, a batch at a time, on a translating thread.

    Each adapter call runs under its time limit (``exchange.adapters.time_limit``): its
    ``time_limit`` in adapter.yaml, else ``time_limit_s`` (default: the hub's
    ``EXCHANGE_ADAPTER_TIME_LIMIT_S``).
    A call that had to be given up leaves its thread busy: in a worker process
    (``exit_on_runaway``, by default when ``exchange serve`` started this process) the
    router commits the batch and stops the process, which its supervisor starts again.
    """

    def __init__(
        self,
        backbone: Backbone,
        rules: Callable[[], RuleSet],
        *,
        time_limit_s: float | None = None,
        exit_on_runaway: bool | None = None,
    ) -> None:
        self._backbone = backbone
        self._rules = rules
        if time_limit_s is None:  # the hub's EXCHANGE_ADAPTER_TIME_LIMIT_S
            time_limit_s = load_settings().adapter_time_limit_s
        self._translator = Translator(time_limit_s)
        if exit_on_runaway is None:
            # Imported here: exchange.processes imports the hub, which imports this module.
            from exchange.processes import STOP_WITH_PARENT

            exit_on_runaway = STOP_WITH_PARENT in os.environ
        self._exit_on_runaway = exit_on_runaway

    async def run(self, stop: asyncio.Event) -> None:
        consumer = await self._backbone.consumer(GROUP, [INBOUND])
        try:
            while not stop.is_set():
                batch = await consumer.fetch(max_records=200, timeout=0.2)
                if not batch:
                    continue
                outputs, offsets, runaway = await self.route_batch(batch)
                await self._backbone.publish_and_commit(outputs, consumer, offsets)
                if runaway is not None and self._exit_on_runaway:
                    log.error(
                        "adapter %s ran past its time limit and cannot be interrupted; its "
                        "message is dead-lettered and committed; stopping this worker process "
                        "to stop the translation (it is started again)",
                        runaway.adapter,
                    )
                    # Stop the way the supervisor would, so every stage here closes cleanly.
                    os.kill(os.getpid(), signal.SIGTERM)
                    await stop.wait()
        finally:
            self._translator.close()
            await consumer.close()

    async def route_batch(
        self, batch: Sequence[ConsumedRecord]
    ) -> tuple[list[Record], dict[TopicPartition, int], Runaway | None]:
        """Records to publish for ``batch``, the offsets to commit, and the last runaway.

        After a runaway, its message is routed again on a fresh thread with that adapter
        failing at once; the messages behind it follow, unless this process stops for
        the runaway: then they stay uncommitted for the next process to route.
        """
        outputs: list[Record] = []
        offsets: dict[TopicPartition, int] = {}
        given_up: dict[int, set[str]] = {}
        runaway: Runaway | None = None
        start, end = 0, len(batch)
        while start < end:
            routed: list[list[Record]] = []  # this run's: an abandoned thread keeps its own
            work = partial(self._route_records, batch, start, end, given_up, routed)
            outcome = await self._translator.run(work, position=start)
            done = routed[: (end if isinstance(outcome, Finished) else outcome.position) - start]
            for record, records in zip(batch[start:], done, strict=False):
                outputs.extend(records)
                offsets[record.position] = record.offset + 1
            if isinstance(outcome, Finished):
                break
            runaway = outcome
            log.error(
                "adapter %s exceeded its time limit of %g s on offset %s and was given up; %s",
                outcome.adapter,
                outcome.limit_s,
                batch[outcome.position].offset,
                "this worker process stops once the batch is committed"
                if self._exit_on_runaway
                else "the runaway translation keeps a thread busy: restart the hub to stop it",
            )
            given_up.setdefault(outcome.position, set()).add(outcome.adapter)
            start = outcome.position
            if self._exit_on_runaway:
                end = start + 1
        return outputs, offsets, runaway

    def _route_records(
        self,
        batch: Sequence[ConsumedRecord],
        start: int,
        end: int,
        given_up: dict[int, set[str]],
        routed: list[list[Record]],
        watch: Watch,
    ) -> None:
        # On the translating thread: nothing here touches the event loop.
        for index in range(start, end):
            watch.position = index
            watch.given_up = given_up.get(index, ())
            routed.append(self._route_safely(batch[index], watch))

    def _route_safely(self, record: ConsumedRecord, watch: Watch | None = None) -> list[Record]:
        # log lines about this message carry its id (exchange.logs)
        token = logs.hub_id.set(record.headers.get(HEADERS["id"]))
        try:
            return self.route(record, watch)
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

    def route(self, record: ConsumedRecord, watch: Watch | None = None) -> list[Record]:
        """Records to publish for one inbound message (deliveries, dead letters, events).

        With ``watch``, each adapter call runs under its time limit.
        """
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
                sender=envelope.sender,
                type_names=rules.type_names(schema),
                document=tree,
                version=schema.version,
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
                translated = (
                    translate_chain(chain, tree, envelope, prefixes, watch) if chain else tree
                )
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
            routed_by = Routed(id=envelope.id, destinations=tuple(routed), rules=rules.version)
            outputs.append(publishable(routed_by))
        return outputs
