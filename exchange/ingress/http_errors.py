"""The framework's own refusals (no such path, method not allowed) as problem+json.

The REST contract promises ``application/problem+json`` for every error, and the
OpenAPI document says so; FastAPI's default answer for a path no route matches
(e.g. an id holding a '/') or a method a route does not take is
``{"detail": ...}`` as ``application/json``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from exchange.ingress.problems import problem


def _detail(request: Request, exc: HTTPException) -> str:
    if exc.status_code == 404:
        return f"no operation at {request.url.path}; /openapi.json lists the hub's operations"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    return str(exc.detail)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> JSONResponse:
        title = str(HTTPException(exc.status_code).detail)  # the status's phrase
        response = problem(exc.status_code, title, _detail(request, exc))
        response.headers.update(exc.headers or {})
        return response
