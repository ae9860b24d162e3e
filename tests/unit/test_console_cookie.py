"""The console's session cookie: Secure exactly when the request came over TLS."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from exchange.console.session import clear_cookie, set_cookie


def _request(scheme: str) -> Request:
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "POST",
            "path": "/console/api/session",
            "headers": [(b"host", b"hub.example")],
            "server": ("hub.example", 443 if scheme == "https" else 80),
        }
    )


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_the_cookie_is_httponly_strict_on_console_and_secure_over_tls(
    scheme: str, secure: bool
) -> None:
    response = Response()
    set_cookie(response, _request(scheme), "token-value")

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("exchange_console=token-value;")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert ("Secure" in cookie) is secure


def test_signing_out_clears_the_same_cookie() -> None:
    response = Response()
    clear_cookie(response, _request("https"))

    cookie = response.headers["set-cookie"]
    assert cookie.startswith('exchange_console="";')
    assert "Max-Age=0" in cookie and "Path=/console" in cookie and "Secure" in cookie
