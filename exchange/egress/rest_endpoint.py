"""The endpoint model of ``kind: rest``: what a REST endpoint declares in ``routes/``.

It lives beside the REST egress that reads it (``RestEgress.endpoint_model``);
``exchange.routing.model`` re-exports it for the code that imports it from there.
Kept free of the HTTP client so that loading routes does not import it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from exchange.routing.model import Endpoint


class RestEndpoint(Endpoint):
    """``kind: rest``: the document is POSTed (or PUT) as the body of an HTTP request."""

    kind: Literal["rest"] = "rest"
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "PUT"] = "POST"
