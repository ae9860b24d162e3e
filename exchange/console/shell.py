"""(placeholder: this part of the console is being built)"""

from __future__ import annotations

from fastapi import APIRouter

from exchange.hub import Hub


def router(hub: Hub) -> APIRouter:
    return APIRouter()
