"""The console's shell: its one page, its static files, and signing in and out.

``GET /console`` is the single page (``static/index.html``); ``static/app.js`` routes
between the views in ``static/views/``.  The session API:

- ``POST /console/api/session`` ``{"key": ...}``: an operator or viewer key opens a
  session (cookie) and gets ``{"name", "role", "csrf", "hub"}``; a sender key is refused;
- ``GET /console/api/session``: the same for the current session (401 if none);
- ``POST /console/api/session/end``: sign out (needs the CSRF token).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from exchange.console.session import (
    ConsoleUser,
    clear_cookie,
    same_site,
    session_token,
    set_cookie,
    signed_in,
    signed_in_and_checked,
)
from exchange.hub import Hub
from exchange.ingress.problems import problem
from exchange.store.console_sessions import CONSOLE_ROLES, csrf_token

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
# What `make console-assets` puts into static/vendor/ (from the npm package uplot).
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
ASSETS_MARK = "<!--assets-->"
ASSETS_MISSING = (
    '<p class="assets-missing" data-test="assets-missing" role="alert">The console\'s chart '
    "library is missing: run <code>make console-assets</code> (it needs npm) and reload.</p>"
)

# The page and its scripts come only from the hub; styles may be set inline by scripts
# (charts size their elements that way); no frame may embed the console.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

for _type, _suffix in (("text/javascript", ".js"), ("text/css", ".css"), ("image/svg+xml", ".svg")):
    mimetypes.add_type(_type, _suffix)


def missing_assets() -> list[str]:
    return [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]


def page_html() -> str:
    """The console's page, saying what to run if the chart library was never fetched."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return html.replace(ASSETS_MARK, ASSETS_MISSING if missing_assets() else "")


def _who(user: ConsoleUser, token: str, hub: Hub) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "csrf": csrf_token(token),
        "hub": hub.settings.hub_name,
    }


def router(hub: Hub) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/console")
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html(), headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @api.get("/console/static/{path:path}")
    async def static(path: str) -> Response:
        file = (STATIC / path).resolve()
        if not file.is_relative_to(STATIC) or not file.is_file():
            if file.is_relative_to(VENDOR) and file.name in VENDOR_FILES:
                return problem(404, "Not found", f"{file.name} is missing: run make console-assets")
            return problem(404, "Not found", f"no console file {path!r}; reload /console")
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        # Revalidated each time: an upgraded hub's files are taken at once.
        return FileResponse(
            file,
            media_type=media_type,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @api.post("/console/api/session")
    async def sign_in(request: Request) -> Response:
        same_site(request)  # no signing a browser in from another site's page
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip():
            return problem(400, "Bad request", 'send {"key": "<operator or viewer key>"} as JSON')
        info = await hub.store.keys.active(key.strip())
        if info is None:
            return problem(
                401,
                "Unauthorized",
                "this key is unknown or revoked; paste an operator or viewer key "
                "(exchange keys create NAME --operator or --viewer)",
            )
        if info.role not in CONSOLE_ROLES:
            return problem(
                403,
                "Forbidden",
                "a sender key cannot open the console; sign in with an operator or viewer key "
                "(exchange keys create NAME --operator or --viewer)",
            )
        sessions = hub.store.console_sessions
        await sessions.sweep(idle_seconds=hub.settings.console_session_s)
        token = await sessions.open(info.id)
        user = ConsoleUser(name=info.sender, role=info.role, key_id=info.id)
        response = JSONResponse(_who(user, token, hub))
        set_cookie(response, request, token)
        return response

    @api.get("/console/api/session")
    async def who_am_i(request: Request, user: ConsoleUser = Depends(signed_in)) -> JSONResponse:
        token = session_token(request)
        if token is None:  # signed_in has checked it; kept for the type checker
            raise HTTPException(401, "not signed in")
        return JSONResponse(_who(user, token, hub), headers={"Cache-Control": "no-store"})

    @api.post("/console/api/session/end")
    async def sign_out(
        request: Request, _: ConsoleUser = Depends(signed_in_and_checked)
    ) -> JSONResponse:
        token = session_token(request)
        if token is not None:
            await hub.store.console_sessions.end(token)
        response = JSONResponse({"signed_out": True})
        clear_cookie(response, request)
        return response

    return api
