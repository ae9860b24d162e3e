"""Subscriptions: a department asks for a type, an operator approves, the hub writes the route.

Approval (contract: routes files are the reviewed source of truth) writes one routes file
under ``routes/subscriptions/``, lints the home with it, and asks the running hub to reload;
if the lint or the reload refuses, the file is removed again and the subscription stays
requested, so the operator can fix what was wrong and approve again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exchange.catalog import overlay
from exchange.catalog.requests import RequestRefused, SubscriptionRequest, check_request
from exchange.envelope import utc_now
from exchange.ruleset import RuleSet, lint_home
from exchange.store.subscriptions import (
    APPROVED,
    REJECTED,
    REQUESTED,
    SubscriptionRecord,
    Subscriptions,
)

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What a reload answers (exchange/reload.py's ReloadOutcome)."""

    version: str
    changed: bool
    problems: list[str]


class Reloader(Protocol):
    async def reload(self, reason: str) -> Outcome: ...


@dataclass
class Refusal(Exception):
    """An answer other than success: HTTP status, title, detail, and problems if any."""

    status: int
    title: str
    detail: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Approval:
    record: SubscriptionRecord
    reload: dict[str, Any] | None  # the reload's outcome; None when this hub cannot reload


class SubscriptionDesk:
    """Requests, approvals and rejections against one hub's rule set and store."""

    def __init__(
        self,
        store: Subscriptions,
        rules: Callable[[], RuleSet],
        reloader: Callable[[], Reloader | None],
    ) -> None:
        self._store = store
        self._rules = rules
        self._reloader = reloader
        # One approval at a time: each lints (and reloads) the home with its own file only.
        self._approving = asyncio.Lock()

    async def request(self, subscriber: str, request: SubscriptionRequest) -> SubscriptionRecord:
        try:
            resolved = check_request(request, self._rules())
        except RequestRefused as exc:
            raise Refusal(422, "Subscription refused", exc.problems[0], exc.problems) from exc
        return await self._store.add(
            subscriber=subscriber,
            message_type=resolved.message_type,
            format=resolved.format,
            request=request.model_dump(exclude_defaults=True),
        )

    async def get(self, subscription_id: int) -> SubscriptionRecord:
        record = await self._store.get(subscription_id)
        if record is None:
            raise Refusal(
                404,
                "Not found",
                f"no subscription {subscription_id}; GET /v1/subscriptions lists them",
            )
        return record

    async def list(self, subscriber: str | None) -> list[SubscriptionRecord]:
        return await self._store.list(subscriber=subscriber)

    async def reject(self, subscription_id: int, by: str, reason: str) -> SubscriptionRecord:
        await self._requested(subscription_id)
        record = await self._store.decide(subscription_id, status=REJECTED, by=by, reason=reason)
        if record is None:
            raise self._decided(subscription_id)
        return record

    async def approve(self, subscription_id: int, by: str) -> Approval:
        async with self._approving:
            record = await self._requested(subscription_id)
            rules = self._rules()
            request = SubscriptionRequest.model_validate(record.request)
            try:  # the rule set may have changed since the request
                resolved = check_request(request, rules)
            except RequestRefused as exc:
                raise Refusal(
                    422, "Subscription cannot be approved", exc.problems[0], exc.problems
                ) from exc
            home = rules.home
            relative = Path("routes", overlay.FOLDER).joinpath(
                overlay.file_name(record.id, record.subscriber, resolved.message_type)
            )
            path = home / relative
            text = overlay.render(
                subscription_id=record.id,
                subscriber=record.subscriber,
                request=request,
                resolved=resolved,
                requested_at=record.requested_at,
                approved_by=by,
                approved_at=utc_now(),
                taken_endpoints=rules.routing.endpoints.keys(),
            )
            overlay.write_atomically(path, text)
            outcome = await self._apply(path, home, record.id, by)
            decided = await self._store.decide(
                record.id, status=APPROVED, by=by, file=relative.as_posix()
            )
            if decided is None:  # decided elsewhere meanwhile: take ours back
                path.unlink(missing_ok=True)
                raise self._decided(record.id)
            return Approval(decided, outcome)

    async def _apply(self, path: Path, home: Path, sid: int, by: str) -> dict[str, Any] | None:
        """Lint the home with the new file and reload; remove the file if either refuses."""
        try:
            problems = await asyncio.to_thread(lint_home, home)
        except Exception as exc:  # a home that no longer loads: say so, keep nothing
            path.unlink(missing_ok=True)
            raise Refusal(422, "Subscription cannot be approved", str(exc), [str(exc)]) from exc
        errors = [str(p) for p in problems if p.severity == "error"]
        if errors:
            path.unlink(missing_ok=True)
            raise Refusal(
                422,
                "Subscription cannot be approved",
                f"the routes with this subscription do not lint: {errors[0]}",
                errors,
            )
        reloader = self._reloader()
        if reloader is None:
            log.warning(
                "subscription %s approved and written to %s; this hub cannot reload: "
                "restart it to apply",
                sid,
                path,
            )
            return None
        outcome = await reloader.reload(reason=f"subscription {sid} approved by {by}")
        if outcome.problems:
            path.unlink(missing_ok=True)
            raise Refusal(
                422,
                "Subscription cannot be approved",
                f"the reload refused the new rule set: {outcome.problems[0]}",
                list(outcome.problems),
            )
        return {"version": outcome.version, "changed": outcome.changed}

    async def _requested(self, subscription_id: int) -> SubscriptionRecord:
        record = await self.get(subscription_id)
        if record.status != REQUESTED:
            raise self._decided(subscription_id, record.status)
        return record

    @staticmethod
    def _decided(subscription_id: int, status: str = "decided") -> Refusal:
        return Refusal(
            409,
            "Conflict",
            f"subscription {subscription_id} is already {status}; request a new one to change it",
        )
