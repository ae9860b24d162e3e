"""The hub in one process: front door, router, delivery and indexer around one backbone."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Collection

from exchange import logs
from exchange.backbone import Backbone, open_backbone
from exchange.egress import EgressRegistry
from exchange.errors import ConfigError
from exchange.owner_only import private_folder
from exchange.pipeline.delivery import Delivery
from exchange.pipeline.documents import DocumentWriter
from exchange.pipeline.indexer import IndexWriter
from exchange.pipeline.intake import Intake
from exchange.pipeline.restart import run_until_stopped
from exchange.pipeline.router import Router
from exchange.reload import RuleReloader
from exchange.ruleset import RuleSet
from exchange.settings import Settings
from exchange.store import Store, StoreRetention
from exchange.store.document_retention import DocumentRetention

log = logging.getLogger(__name__)

# The stages behind the front door; each may run in this process or in its own.
WORKERS = ("router", "delivery", "indexer")
STOP_SECONDS = 15.0  # how long a stopping hub waits for its stages


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        private_folder(settings.resolved_data_dir)
        self.rules = RuleSet.load(settings.home)
        # Swaps ``rules`` for a new set between messages (exchange/reload.py); the serving
        # process attaches its worker processes so they reload too.
        self.reloader = RuleReloader(self, settings.home, settings.resolved_data_dir)
        self.store = Store(settings.resolved_database_url)
        self.backbone: Backbone = open_backbone(settings)
        self.egress = EgressRegistry()
        self.intake = Intake(
            settings=settings,
            backbone=self.backbone,
            keys=self.store.keys,
            queries=self.store.queries,
            rules=self.current_rules,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def current_rules(self) -> RuleSet:
        return self.rules

    async def start(self, *, workers: Collection[str] = WORKERS) -> None:
        """Open storage and start the named workers (none: a front door only)."""
        unknown = set(workers) - set(WORKERS)
        if unknown:
            raise ConfigError(f"unknown worker(s) {sorted(unknown)}; choose from {WORKERS}")
        await self.store.start()
        self.store.keys.start_refreshing()
        await self.backbone.start()
        await self.egress.start()
        if "router" in workers:
            self._spawn(
                "router",
                Router(
                    self.backbone,
                    self.current_rules,
                    time_limit_s=self.settings.adapter_time_limit_s,
                ).run,
            )
        if "delivery" in workers:
            self._spawn(
                "delivery",
                Delivery(
                    self.backbone,
                    self.egress,
                    self.current_rules,
                    self.settings.delivery_concurrency,
                ).run,
            )
        if "indexer" in workers:
            self._spawn("indexer", IndexWriter(self.backbone, self.store).run)
            # The documents the console shows, beside the index (exchange/pipeline/documents.py).
            keep_documents = self.settings.document_retention_ms != 0
            writer = DocumentWriter(
                self.backbone, self.store.documents, self.current_rules, keep=keep_documents
            )
            self._spawn("documents", writer.run)
            if self.settings.document_retention_ms > 0:
                documents_retention = DocumentRetention(
                    self.store.engine, self.settings.document_retention_ms
                )
                self._spawn("document retention", documents_retention.run)
            # With the indexer, which a hub runs in one of its processes: so retention, too.
            if self.settings.store_retention_ms != -1:
                retention = StoreRetention(self.store.engine, self.settings.store_retention_ms)
                self._spawn("store retention", retention.run)

    def _spawn(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        # The stage's own context: its log lines, and those of the tasks it starts, say it.
        context = contextvars.copy_context()
        context.run(logs.stage.set, name)
        task = asyncio.create_task(
            run_until_stopped(f"{name} worker", run, self._stop), name=name, context=context
        )
        self._tasks.append(task)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            # The stages finish together (each bounds its own flush and close); one that has
            # not within STOP_SECONDS is cancelled and not waited for any longer than that.
            _, late = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in late:
                log.warning(
                    "%s worker did not stop within %s s; cancelling it",
                    task.get_name(),
                    STOP_SECONDS,
                )
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_SECONDS)
        await self.egress.close()
        await self.backbone.close()
        await self.store.close()
