"""Adapter chains: finding the way from one message type to another, and running it.

Adapters form a graph whose nodes are message types and whose edges are
adapters. Departments translate to and from a canonical model, so N systems
need about 2N adapters instead of N², and the hub finds
``samr.X → canonical.Y → hrss.Z`` by itself: the shortest path,
breadth-first, ties broken by adapter names so the same tables always give the
same chain.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial

from lxml import etree

from exchange.adapters.base import Adapter
from exchange.adapters.time_limit import Watch
from exchange.envelope import Envelope
from exchange.errors import ConfigError, TranslationError


def shortest_chain(
    adapters: Iterable[Adapter], source: str, target: str
) -> tuple[Adapter, ...] | None:
    """The shortest chain from ``source`` to ``target``, or None when there is none.

    Edges are explored in name order and each type is visited once, so among
    the shortest chains the one whose name sequence sorts first is found.
    """
    if source == target:
        return ()
    outgoing: dict[str, list[Adapter]] = {}
    for adapter in sorted(adapters, key=lambda a: a.spec.name):
        outgoing.setdefault(adapter.spec.source, []).append(adapter)
    came_from: dict[str, tuple[str, Adapter]] = {}
    queue = deque([source])
    while queue:
        current = queue.popleft()
        for adapter in outgoing.get(current, []):
            nxt = adapter.spec.target
            if nxt == source or nxt in came_from:
                continue
            came_from[nxt] = (current, adapter)
            if nxt == target:
                return _walk_back(came_from, source, target)
            queue.append(nxt)
    return None


def _walk_back(
    came_from: dict[str, tuple[str, Adapter]], source: str, target: str
) -> tuple[Adapter, ...]:
    steps: list[Adapter] = []
    node = target
    while node != source:
        node, adapter = came_from[node]
        steps.append(adapter)
    return tuple(reversed(steps))


def check_chain(chain: Sequence[Adapter], source: str, target: str) -> None:
    """Raise ConfigError saying where ``chain`` does not lead from ``source`` to ``target``."""
    names = " → ".join(a.spec.name for a in chain) or "(empty)"
    if not chain:
        if source != target:
            raise ConfigError(
                f"the empty adapter chain cannot turn {source} into {target}; "
                "list the adapters to run or omit the list to resolve it automatically"
            )
        return
    first = chain[0].spec
    if first.source != source:
        raise ConfigError(
            f"adapter chain {names} breaks at its start: the message is {source} but "
            f"'{first.name}' reads {first.source}; start with an adapter from {source}"
        )
    for position, (before, after) in enumerate(itertools.pairwise(chain), start=1):
        if before.spec.target != after.spec.source:
            raise ConfigError(
                f"adapter chain {names} breaks after step {position}: '{before.spec.name}' "
                f"writes {before.spec.target} but '{after.spec.name}' reads {after.spec.source}; "
                "put an adapter between them or fix the order"
            )
    last = chain[-1].spec
    if last.target != target:
        raise ConfigError(
            f"adapter chain {names} breaks at its end: '{last.name}' writes {last.target} "
            f"but the destination needs {target}; add an adapter from {last.target} to {target}"
        )


def translate_chain(
    chain: Sequence[Adapter],
    document: etree._ElementTree,
    envelope: Envelope,
    memo: dict[tuple[str, ...], etree._ElementTree] | None = None,
    watch: Watch | None = None,
) -> etree._ElementTree:
    """Run each adapter on the previous one's output.

    Each adapter sees the envelope with ``message_type`` set to the type it
    reads. Whatever an adapter raises becomes a TranslationError that names the
    adapter, its step and the cause; its problems are kept.

    ``memo``, shared across the chains of one document, keeps each chain prefix's
    result, so a fan-out through a canonical model translates to it once.
    Adapters never modify the document they are given, which makes this safe.

    With ``watch`` (``exchange.adapters.time_limit``), each adapter call runs
    under its time limit; one that exceeds it fails with a TranslationError.
    """
    current = document
    names: tuple[str, ...] = ()
    for step, adapter in enumerate(chain, start=1):
        spec = adapter.spec
        names += (spec.name,)
        if memo is not None and names in memo:
            current = memo[names]
            continue
        if envelope.message_type != spec.source:
            envelope = envelope.with_type(spec.source, None)
        where = (
            f"adapter '{spec.name}' (step {step} of {len(chain)}, {spec.source} → {spec.target})"
        )
        try:
            if watch is None:
                result = adapter.translate(current, envelope)
            else:
                result = watch.call(adapter, partial(adapter.translate, current, envelope))
        except TranslationError as exc:
            if f"adapter '{spec.name}'" in exc.detail:
                raise
            raise TranslationError(f"{where} failed: {exc.detail}", exc.problems) from exc
        except Exception as exc:
            raise TranslationError(
                f"{where} failed: {type(exc).__name__}: {exc}; "
                "fix the adapter or check the input document"
            ) from exc
        if not isinstance(result, etree._ElementTree):
            raise TranslationError(
                f"{where} returned {type(result).__name__}, not an lxml ElementTree; "
                "return etree.ElementTree(root) from translate()"
            )
        current = result
        if memo is not None:
            memo[names] = result
    return current
