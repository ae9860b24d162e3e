"""The hub's OpenAPI document (/openapi.json, and /docs built from it).

The REST handlers read their headers and bodies themselves (submissions do not
even pass through FastAPI: see SubmitFastPath), so FastAPI can infer little more
than the paths.  ``install`` serves FastAPI's document with each operation's
security, headers, body and every answer the hub gives filled in from
``OPERATIONS``; README.md "The REST contract" says the same in prose.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from exchange.envelope import ID_CHARACTERS, MAX_ID_LENGTH
from exchange.ingress import answers
from exchange.ingress.answers import ref
from exchange.ingress.problems import PROBLEM, problem

BEARER = "bearerAuth"
XML_MEDIA_TYPES = ("application/xml", "text/xml", "application/*+xml")
SECURED: list[dict[str, list[str]]] = [{BEARER: []}]
ID_PATTERN = f"^{ID_CHARACTERS}$"  # what exchange.envelope.id_problem accepts

DESCRIPTION = (
    "Departmental systems submit XML documents and follow them to every receiver. "
    "Authenticate with `Authorization: Bearer <key>` (`exchange keys create SENDER`); "
    "reading any sender's messages and the dead letters needs an operator or viewer key "
    "(`--operator`, `--viewer`), replaying an operator key. Every refusal is "
    "`application/problem+json`: `detail` says what to do, `errors` lists each problem."
)


def json_answer(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def problem_answer(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": ref(answers.Problem)}},
        **extra,
    }


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _id_header(name: str, description: str) -> dict[str, Any]:
    limit = f" 1 to {MAX_ID_LENGTH} visible ASCII characters (0x21-0x7E), else 400."
    return _header(
        name, description + limit, minLength=1, maxLength=MAX_ID_LENGTH, pattern=ID_PATTERN
    )


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "format": "uuid"},
    }


# Answers that any operation can get from the layers in front of the handlers.
TIMEOUT = problem_answer("Request headers or body not received in time.")
HEADERS_TOO_LARGE = problem_answer("The request line and headers are over the server's size limit.")
UNAVAILABLE = problem_answer(
    "Hub unavailable or connection cap reached; try again shortly.",
    headers={
        "Retry-After": {
            "description": "Seconds to wait (sent when the connection cap is reached).",
            "schema": {"type": "integer"},
        }
    },
)
UNAUTHENTICATED = problem_answer(
    "No key, or an unknown or revoked key.",
    headers={
        "WWW-Authenticate": {
            "description": 'The scheme to use: Bearer realm="exchange".',
            "required": True,
            "schema": {"type": "string"},
        }
    },
)

SUBMIT = {
    "operationId": "submitMessage",
    "description": (
        "The body is the XML document; the envelope travels in `X-Exchange-*` headers. "
        "The 202 comes once the message is durable. Resubmitting the same message id "
        "returns the first answer (`X-Exchange-Duplicate: true`) and makes no copy."
    ),
    "security": SECURED,
    "parameters": [
        _header(
            "X-Exchange-Sender",
            "Your agency/system code; if given, it must be the key's sender (else 403).",
        ),
        _id_header(
            "X-Exchange-Message-Id",
            "Your id for the message (default: the hub assigns one); makes resubmission "
            "idempotent.",
        ),
        _id_header(
            "X-Exchange-Correlation-Id",
            "Messages of one correlation id keep their order (default: the hub's id).",
        ),
        _header(
            "X-Exchange-Message-Type",
            "A schema name (samr.EnterpriseRegistration) or {namespace}Root; default the "
            "root element's qualified name.",
        ),
        _header(
            "X-Exchange-Schema-Version",
            "Version of the message type; default the newest registered version.",
        ),
    ],
    "requestBody": {
        "required": True,
        "description": "The XML document (no DTD, DOCTYPE or entity declarations).",
        "content": {media: {"schema": {"type": "string"}} for media in XML_MEDIA_TYPES},
    },
    "responses": {
        "202": json_answer(
            ref(answers.Accepted),
            "Accepted: the message is durable on the backbone.",
            headers={
                "Location": {
                    "description": "/v1/messages/{id}: where to follow the message.",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "X-Exchange-Duplicate": {
                    "description": "true when this message id was accepted before; the "
                    "answer is the first one and no copy was made.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
            links={
                "GetMessage": {
                    "operationId": "getMessage",
                    "parameters": {"hub_id": "$response.body#/id"},
                    "description": "Follow the message.",
                }
            },
        ),
        "400": problem_answer(
            "Not well-formed XML, an encoding that does not decode, a DTD/DOCTYPE or "
            "entity declaration, nesting deeper than EXCHANGE_MAX_XML_DEPTH, or a message "
            "or correlation id that is empty, too long or not visible ASCII."
        ),
        "401": UNAUTHENTICATED,
        "403": problem_answer(
            "X-Exchange-Sender is not the key's sender, or the sender may not send this type."
        ),
        "408": TIMEOUT,
        "431": HEADERS_TOO_LARGE,
        "413": problem_answer("Over the size limit (EXCHANGE_MAX_MESSAGE_BYTES)."),
        "415": problem_answer("Not an XML content type."),
        "422": problem_answer(
            "Unknown message type, invalid against the schema (rule xsd) or the business "
            "rules, or no route takes it; errors lists every problem."
        ),
        "503": UNAVAILABLE,
    },
}

MESSAGE = {
    "operationId": "getMessage",
    "description": "With the sender's key, or an operator or viewer key.",
    "security": SECURED,
    "parameters": [_path_id("hub_id", "The id from the 202 answer.")],
    "responses": {
        "200": json_answer(ref(answers.Message), "The message, its trace and its deliveries."),
        "401": UNAUTHENTICATED,
        "403": problem_answer(
            "The message was sent by another sender (and the key is no operator's)."
        ),
        "404": problem_answer("No message has this id."),
        "408": TIMEOUT,
        "431": HEADERS_TOO_LARGE,
        "503": UNAVAILABLE,
    },
}

NOT_OPERATOR = problem_answer("The key is not an operator key.")

DEAD_LETTERS = {
    "operationId": "listDeadLetters",
    "description": "Operator or viewer key. Newest first; follow next_cursor for the next page.",
    "security": SECURED,
    "parameters": [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Dead letters per page, 1 to 1000 (else 400).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": "The next_cursor of the previous page (opaque; else 400).",
            "schema": {"type": "string"},
        },
        {
            "name": "include_replayed",
            "in": "query",
            "required": False,
            "description": "Also list dead letters that were replayed.",
            "schema": {"type": "boolean", "default": False},
        },
        {
            "name": "endpoint",
            "in": "query",
            "required": False,
            "description": "Only the dead letters of this destination endpoint.",
            "schema": {"type": "string"},
        },
    ],
    "responses": {
        "200": json_answer(
            ref(answers.DeadLetterPage),
            "One page of dead letters.",
            links={
                "ReplayFirst": {
                    "operationId": "replayDeadLetter",
                    "parameters": {"dead_letter_id": "$response.body#/dead_letters/0/id"},
                    "description": "Replay the page's first dead letter.",
                }
            },
        ),
        "400": problem_answer(
            "A limit outside 1..1000, an include_replayed that is not true or false, or a "
            "cursor this hub did not hand out."
        ),
        "401": UNAUTHENTICATED,
        "403": problem_answer("The key is neither an operator's nor a viewer's."),
        "408": TIMEOUT,
        "431": HEADERS_TOO_LARGE,
        "503": UNAVAILABLE,
    },
}

REPLAY = {
    "operationId": "replayDeadLetter",
    "description": (
        "Operator key. Puts the message back where it failed: a failed delivery to its "
        "endpoint, a failed translation through the router to that one destination."
    ),
    "security": SECURED,
    "parameters": [_path_id("dead_letter_id", "The id from GET /v1/dead-letters.")],
    "responses": {
        "202": json_answer(ref(answers.Replayed), "Published again."),
        "401": UNAUTHENTICATED,
        "403": NOT_OPERATOR,
        "404": problem_answer("No dead letter has this id."),
        "408": TIMEOUT,
        "409": problem_answer("An operator discarded this dead letter: it is not replayed."),
        "431": HEADERS_TOO_LARGE,
        "503": UNAVAILABLE,
    },
}

HEALTH = {
    "operationId": "health",
    "description": "No key needed. Counts only the messages in flight, through an index: its "
    "cost follows the backlog, not the size of the store, so probes may call it often.",
    "security": [],
    "responses": {
        "200": json_answer(ref(answers.Health), "The hub answers and its store is readable."),
        "408": TIMEOUT,
        "431": HEADERS_TOO_LARGE,
        "503": {
            "description": "The store cannot be read (Degraded), or the hub is unavailable "
            "or its connection cap reached (Problem).",
            "content": {
                "application/json": {"schema": ref(answers.Degraded)},
                PROBLEM: {"schema": ref(answers.Problem)},
            },
        },
    },
}

# (method, path) as FastAPI lists them -> what the document says of that operation.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/messages"): SUBMIT,
    ("get", "/v1/messages/{hub_id}"): MESSAGE,
    ("get", "/v1/dead-letters"): DEAD_LETTERS,
    ("post", "/v1/dead-letters/{dead_letter_id}/replay"): REPLAY,
    ("get", "/healthz"): HEALTH,
}


def build(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document of ``app`` with every operation described in full."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=app.routes,
    )
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            described = OPERATIONS.get((method, path))
            if described is not None:
                # Ours replace what FastAPI inferred from the handlers' signatures.
                operation.update(copy.deepcopy(described))
                operation["responses"] = dict(sorted(operation["responses"].items()))
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "A key from `exchange keys create SENDER [--operator]`.",
        }
    }
    schemas = {**components.get("schemas", {}), **answers.component_schemas()}
    components["schemas"] = _referenced(document["paths"], schemas)
    return document


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``schemas`` less those no operation uses, directly or through another schema
    (FastAPI's validation error, once every operation says what it answers)."""
    used: set[str] = set()
    unread: list[Any] = [paths]
    while unread:
        text = json.dumps(unread.pop())
        for name, schema in schemas.items():
            if name not in used and f'"#/components/schemas/{name}"' in text:
                used.add(name)
                unread.append(schema)
    return {name: schema for name, schema in schemas.items() if name in used}


# Swagger UI's files, from the swagger-ui-bundle package: /docs works on a network with no
# way out (no CDN), and the hub serves only the files the page loads.
SWAGGER_UI = Path(str(swagger_ui_path))
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

# validatorUrl null: Swagger UI would otherwise ask an outside validator for a badge.
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve the full document at /openapi.json (built once, at the first request), and
    Swagger UI for it at /docs, with its assets at /docs/assets/."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title=app.title))

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = DOCS_ASSETS.get(name)
        if media_type is None:
            return problem(404, "Not found", f"no /docs asset {name!r}; open /docs")
        return FileResponse(SWAGGER_UI / name, media_type=media_type)
