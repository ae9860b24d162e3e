"""What an approved subscription becomes: ``routes/subscriptions/<id>-<who>-<type>.yaml``.

A normal routes file (the loader reads ``routes/**/*.yaml``), so ``git diff`` shows what an
approval changed and an operator can edit or delete it like any other.  Written atomically:
a hidden temporary file beside it (the loader skips hidden files) renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from exchange.catalog.requests import NewEndpoint, Resolved, SubscriptionRequest

FOLDER = "subscriptions"  # under routes/
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def slug(text: str) -> str:
    """``text`` as an endpoint or file name may hold it: lower case, [a-z0-9._-]."""
    return _UNSAFE.sub("-", text.lower()).strip("-._") or "x"


def short_type(message_type: str) -> str:
    """``samr.EnterpriseRegistration`` → ``enterpriseregistration``: the name without its
    department prefix, for endpoint and route names."""
    return slug(message_type.rsplit(".", 1)[-1])


def file_name(subscription_id: int, subscriber: str, message_type: str) -> str:
    return f"{subscription_id}-{slug(subscriber)}-{slug(message_type)}.yaml"


def endpoint_name(subscriber: str, message_type: str, taken: Collection[str], sid: int) -> str:
    """``<subscriber>-<type-short>``, or with the subscription id when that name is taken."""
    name = f"{slug(subscriber)}-{short_type(message_type)}"
    return name if name not in taken else f"{name}-{sid}"


def render(
    *,
    subscription_id: int,
    subscriber: str,
    request: SubscriptionRequest,
    resolved: Resolved,
    requested_at: datetime,
    approved_by: str,
    approved_at: datetime,
    taken_endpoints: Collection[str],
) -> str:
    """The file's text: a header saying who approved what and when, then the YAML."""
    data: dict[str, Any] = {}
    endpoint = resolved.endpoint
    if endpoint is None:
        assert isinstance(request.endpoint, NewEndpoint)
        endpoint = endpoint_name(
            subscriber, resolved.message_type, taken_endpoints, subscription_id
        )
        spec: dict[str, Any] = {
            "name": endpoint,
            "title": f"{subscriber}: {resolved.message_type} (subscription {subscription_id})",
            "kind": "rest",
            "url": request.endpoint.url,
            "method": request.endpoint.method,
            "format": resolved.format,
            "timeout": request.endpoint.timeout,
        }
        if request.endpoint.headers:
            spec["headers"] = dict(request.endpoint.headers)
        data["endpoints"] = [spec]
    match: dict[str, Any] = {"message_type": resolved.message_type}
    if request.xpath:
        match["xpath"] = list(request.xpath)
    route: dict[str, Any] = {
        "name": f"subscription-{subscription_id}-{slug(subscriber)}-"
        f"{short_type(resolved.message_type)}",
        "description": f"Subscription {subscription_id}: {subscriber} receives "
        f"{resolved.message_type} as {resolved.format}.",
        "match": match,
    }
    if request.namespaces:
        route["namespaces"] = dict(request.namespaces)
    # Adapters omitted: resolved through the canonical model, as the router does, so a new
    # adapter (or version) on the way is picked up without editing this file.
    route["destinations"] = [{"endpoint": endpoint}]
    data["routes"] = [route]
    asked = json.dumps(request.model_dump(exclude_defaults=True), ensure_ascii=False)
    chain = " → ".join(resolved.adapters) or "none (same type)"
    header = [
        f"# Subscription {subscription_id}: {subscriber} receives {resolved.message_type}"
        f" as {resolved.format}.",
        f"# Requested by {subscriber} at {requested_at.isoformat(timespec='seconds')};"
        f" approved by {approved_by} at {approved_at.isoformat(timespec='seconds')}.",
        f"# Request: {asked}",
        f"# Adapter chain at approval: {chain}",
        "# Written by the hub on approval (POST /v1/subscriptions/ID/approve); edit or remove",
        "# it like any routes file, then reload.",
    ]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n\n" + body


def write_atomically(path: Path, text: str) -> None:
    """``text`` at ``path``, all or nothing: readers see the old state or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
