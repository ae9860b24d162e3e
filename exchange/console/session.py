"""Who is using the console: FastAPI dependencies every console endpoint declares.

``signed_in``: any console session (operator or viewer), else 401.
``may_act``: an operator's session, a same-site request and the session's CSRF token in
``X-CSRF-Token``, else 401 / 403: every state-changing console endpoint is a POST that
depends on it.

The session travels only in an HttpOnly, SameSite=Strict cookie scoped to /console;
the key it was opened with never leaves the sign-in request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from exchange.store.console_sessions import csrf_token

if TYPE_CHECKING:
    from exchange.hub import Hub

COOKIE = "exchange_console"
COOKIE_PATH = "/console"
CSRF_HEADER = "X-CSRF-Token"

SIGN_IN = "sign in at /console with an operator or viewer key"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str  # the key's sender code, e.g. "demo-operator"
    role: str  # "operator" | "viewer"
    key_id: str

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


async def signed_in(request: Request) -> ConsoleUser:
    """The console user of this request's session; 401 without a live one."""
    token = session_token(request)
    if token is None:
        raise HTTPException(401, f"not signed in: {SIGN_IN}")
    hub = _hub(request)
    owner = await hub.store.console_sessions.find(
        token, idle_seconds=hub.settings.console_session_s
    )
    if owner is None:
        raise HTTPException(
            401, f"the session has ended (signed out, idle too long or key revoked): {SIGN_IN}"
        )
    return ConsoleUser(name=owner.sender, role=owner.role, key_id=owner.key_id)


def same_site(request: Request) -> None:
    """Refuse a request another site's page made the browser send (403).

    Browsers send ``Sec-Fetch-Site`` and, on a POST, ``Origin``; either naming another
    site is refused.  Clients that send neither (curl, tests) pass on to the CSRF check.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise HTTPException(
            403, f"a request from another site ({fetch_site}) may not act; use the console page"
        )
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(
            403, f"a request from origin {origin!r} may not act; use the console at this hub"
        )


def check_csrf(request: Request) -> None:
    token = session_token(request) or ""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
        raise HTTPException(
            403,
            f"missing or wrong {CSRF_HEADER} header: reload the console page and try again",
        )


async def signed_in_and_checked(request: Request) -> ConsoleUser:
    """A session of any role, on a same-site request with its CSRF token (signing out)."""
    user = await signed_in(request)
    same_site(request)
    check_csrf(request)
    return user


async def may_act(request: Request) -> ConsoleUser:
    """An operator's session on a same-site request with its CSRF token."""
    user = await signed_in_and_checked(request)
    if not user.may_act:
        raise HTTPException(403, "viewers may look but not act; sign in with an operator key")
    return user


# For signatures: ``user: SignedIn`` is ``user: ConsoleUser = Depends(signed_in)``.
SignedIn = Annotated[ConsoleUser, Depends(signed_in)]
MayAct = Annotated[ConsoleUser, Depends(may_act)]


def set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
