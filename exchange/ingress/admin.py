"""REST: ``POST /v1/admin/reload``, an operator reloads the hub's rules without a restart.

200 with the outcome (exchange/reload.py ``ReloadOutcome``) when the new set runs or the
files did not change; 422 problem+json with the lint's or loader's lines when it is refused
(the old set keeps running).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from exchange.hub import Hub
from exchange.ingress import callers, openapi
from exchange.ingress.openapi import (
    HEADERS_TOO_LARGE,
    SECURED,
    TIMEOUT,
    UNAUTHENTICATED,
    UNAVAILABLE,
    json_answer,
    problem_answer,
)
from exchange.ingress.problems import problem

RELOAD = "/v1/admin/reload"

OUTCOME = {
    "type": "object",
    "required": ["version", "changed"],
    "properties": {
        "version": {"type": "string", "description": "The rule set running now."},
        "changed": {"type": "boolean", "description": "False when the files had not changed."},
    },
    "additionalProperties": True,
}
RELOAD_OPERATION = {
    "operationId": "reloadRules",
    "summary": "Reload schemas/, adapters/ and routes/ (operator)",
    "description": "Loads and lints the home's files beside the running rule set and swaps to "
    "them in every process between messages; refused with the lint's lines otherwise, the "
    "running set kept. Operator key.",
    "security": SECURED,
    "parameters": [],
    "responses": {
        "200": json_answer(OUTCOME, "The new set runs, or the files had not changed."),
        "401": UNAUTHENTICATED,
        "403": problem_answer("The key is no operator's."),
        "408": TIMEOUT,
        "422": problem_answer("Refused: errors lists each lint or load problem."),
        "431": HEADERS_TOO_LARGE,
        "503": UNAVAILABLE,
    },
}


def install(app: FastAPI, hub: Hub) -> None:
    openapi.OPERATIONS[("post", RELOAD)] = RELOAD_OPERATION

    @app.post(RELOAD, summary="Reload schemas/, adapters/ and routes/ (operator)")
    async def reload(request: Request) -> JSONResponse:
        who = (await callers.operator(hub.store.keys, request.headers)).sender
        outcome = await hub.reloader.reload(reason=f"POST {RELOAD} by {who}")
        if outcome.refused:
            return problem(
                422,
                "Rules refused",
                "the new rules were refused and the running ones kept; fix the lines in "
                "'errors' and reload again",
                errors=outcome.problems,
                version=outcome.version,
            )
        return JSONResponse(outcome.as_json())
