"""The endpoint model of ``kind: soap``: what a SOAP endpoint declares in ``routes/``.

It lives beside the SOAP egress that reads it (``SoapEgress.endpoint_model``);
``exchange.routing.model`` re-exports it for the code that imports it from there.
Kept free of zeep and the HTTP client so that loading routes does not import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from exchange.routing.model import Endpoint


class SoapEndpoint(Endpoint):
    """``kind: soap``: the document is the body element of a WSDL operation's request.

    ``wsdl`` is a path relative to the routes folder (where the endpoint file is) or an
    http(s) URL.  By default the document is the operation's body element itself
    (document/literal); ``part`` names the child of a wrapper element (wrapped
    document/literal, rpc/literal) that the document goes into instead.  ``username`` and
    ``password`` add a WS-Security UsernameToken; ``${VAR}`` in them, as in ``headers``,
    is read from the environment when the hub sends.
    """

    kind: Literal["soap"]
    wsdl: str = Field(min_length=1, description="routes/-relative path or http(s) URL.")
    service: str = Field(min_length=1)
    port: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    address: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="URL to post to; default: the port's soap:address in the WSDL.",
    )
    part: str | None = Field(
        default=None, description="Child of the body's wrapper element the document goes in."
    )
    username: str | None = None
    password: str | None = None

    # Where relative WSDL paths start and what a local WSDL may read: the routes folder
    # the endpoint was loaded from (the loader passes it as validation context).
    _routes_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _locate_wsdl(self, info: ValidationInfo) -> SoapEndpoint:
        if (self.username is None) != (self.password is None):
            raise ValueError(
                "username and password go together (a WS-Security UsernameToken); "
                "give both or neither"
            )
        context = info.context if isinstance(info.context, Mapping) else {}
        routes_dir = context.get("routes_dir")
        if self.wsdl_is_url:
            return self
        if "://" in self.wsdl:
            raise ValueError(
                f"wsdl {self.wsdl!r}: give an http(s) URL or a file path relative to the "
                "routes folder (e.g. wsdl/tax-bureau.wsdl)"
            )
        if routes_dir is not None:
            base = Path(routes_dir).resolve()
            location = (base / self.wsdl).resolve()
            if not location.is_relative_to(base):
                raise ValueError(
                    f"wsdl {self.wsdl!r} lies outside the routes folder {base}; "
                    "copy the WSDL (and what it imports) into routes/, e.g. routes/wsdl/"
                )
            self._routes_dir = base
        return self

    @property
    def wsdl_is_url(self) -> bool:
        return self.wsdl.startswith(("http://", "https://"))

    @property
    def wsdl_location(self) -> str:
        """The WSDL's URL, or the absolute path of the local file."""
        if self.wsdl_is_url:
            return self.wsdl
        base = self._routes_dir if self._routes_dir is not None else Path.cwd()
        return str((base / self.wsdl).resolve())

    @property
    def wsdl_root(self) -> str:
        """What the WSDL and everything it imports must come from: the routes folder for a
        local WSDL (its own folder when built outside a routes folder), the WSDL's scheme,
        host and port for a URL."""
        if self.wsdl_is_url:
            parts = urlsplit(self.wsdl)
            return f"{parts.scheme}://{parts.netloc}"
        if self._routes_dir is not None:
            return str(self._routes_dir)
        return str(Path(self.wsdl_location).parent)
