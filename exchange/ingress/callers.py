"""Who calls a REST route: the identity of the request's bearer key, and the roles routes need.

Every route of the hub's API (messages, dead letters, catalogue, subscriptions, reload)
authenticates the same way, so the refusals read the same everywhere: 401 for a missing,
unknown or revoked key, 403 for a key without the role.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from exchange.errors import Forbidden, Unauthenticated
from exchange.store import Identity, KeyStore


def bearer_key(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def caller(keys: KeyStore, headers: Headers) -> Identity:
    """The key's identity; Unauthenticated (401) without a valid key."""
    key = bearer_key(headers)
    identity = await keys.identify(key) if key else None
    if identity is None:
        raise Unauthenticated("a valid key is needed: send 'Authorization: Bearer <key>'")
    return identity


async def operator(keys: KeyStore, headers: Headers) -> Identity:
    """The identity of an operator key; Forbidden (403) for any other role."""
    identity = await caller(keys, headers)
    if not identity.is_operator:
        raise Forbidden("this needs an operator key (exchange keys create NAME --operator)")
    return identity


async def reader(keys: KeyStore, headers: Headers) -> Identity:
    """The identity of a key that may read any message (operator or viewer)."""
    identity = await caller(keys, headers)
    if not identity.reads_any:
        raise Forbidden(
            "this needs an operator or viewer key (exchange keys create NAME --operator "
            "or --viewer)"
        )
    return identity
