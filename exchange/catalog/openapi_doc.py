"""What the OpenAPI document says of the catalogue's and the subscriptions' operations.

The hub's document is FastAPI's with each operation's security and every answer filled in
from ``exchange.ingress.openapi.OPERATIONS``; these are ours, added to it by ``register``.
"""

from __future__ import annotations

from typing import Any

from exchange.ingress import openapi
from exchange.ingress.openapi import (
    HEADERS_TOO_LARGE,
    SECURED,
    TIMEOUT,
    UNAUTHENTICATED,
    UNAVAILABLE,
    json_answer,
    problem_answer,
)

SUBSCRIPTION_ID = {
    "name": "subscription_id",
    "in": "path",
    "required": True,
    "description": "The id from the 201 answer.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(
    operation_id: str,
    description: str,
    answers: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": description.split(". ")[0].rstrip("."),
        "description": description,
        "security": SECURED,
        "parameters": parameters or [],
        "responses": {
            **answers,
            "401": UNAUTHENTICATED,
            "408": TIMEOUT,
            "431": HEADERS_TOO_LARGE,
            "503": UNAVAILABLE,
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


TYPE = _path("message_type", "A type name (samr.EnterpriseRegistration) or {namespace}root.")
NOT_A_TYPE = problem_answer("No such message type (detail suggests the closest) or version.")
NOT_A_SUBSCRIPTION = problem_answer("No subscription has this id.")
OPERATOR_ONLY = problem_answer("The key is no operator's.")
DECIDED = problem_answer("The subscription was approved or rejected already.")


def operations(
    subscription_body: dict[str, Any], reject_body: dict[str, Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("get", "/v1/catalog"): _operation(
            "listCatalogue",
            "Every message type: owner, titles, versions, publishers and subscribers. Any key.",
            {"200": json_answer(_ref("CatalogueList"), "The catalogue.")},
        ),
        ("get", "/v1/catalog/{message_type}"): _operation(
            "getCatalogueEntry",
            "One type: versions with their XSDs and samples, who may send it, and each "
            "route's destinations with the adapter chain that reaches them. Any key.",
            {"200": json_answer(_ref("TypeDetail"), "The entry."), "404": NOT_A_TYPE},
            [TYPE],
        ),
        ("get", "/v1/catalog/{message_type}/{version}/files/{path}"): _operation(
            "getCatalogueFile",
            "An XSD or a sample of one version, as the entry lists it; nothing else of the "
            "folder. Any key.",
            {
                "200": {
                    "description": "The file.",
                    "content": {"application/xml": {"schema": {"type": "string"}}},
                },
                "404": problem_answer("No such type, version, or listed file."),
            },
            [TYPE, _path("version", "A version, e.g. 1.0."), _path("path", "As listed.")],
        ),
        ("post", "/v1/subscriptions"): _operation(
            "requestSubscription",
            "Ask to receive a type, optionally filtered by XPath and in another format; the "
            "key's sender is the subscriber. An operator approves it.",
            {
                "201": json_answer(_ref("SubscriptionAnswer"), "Requested."),
                "400": problem_answer("The body is not JSON."),
                "422": problem_answer(
                    "Unknown type or format, no adapter chain to the format, an XPath that "
                    "does not compile, an endpoint that does not exist or a URL that is not "
                    "http(s); errors lists each."
                ),
            },
            body=subscription_body["requestBody"],
        ),
        ("get", "/v1/subscriptions"): _operation(
            "listSubscriptions",
            "The key's sender's subscriptions; every one for an operator or viewer key.",
            {"200": json_answer(_ref("SubscriptionList"), "Newest first.")},
        ),
        ("get", "/v1/subscriptions/{subscription_id}"): _operation(
            "getSubscription",
            "One subscription and its decision.",
            {
                "200": json_answer(_ref("SubscriptionAnswer"), "The subscription."),
                "403": problem_answer("Another department's subscription."),
                "404": NOT_A_SUBSCRIPTION,
            },
            [SUBSCRIPTION_ID],
        ),
        ("post", "/v1/subscriptions/{subscription_id}/approve"): _operation(
            "approveSubscription",
            "Writes routes/subscriptions/<id>-<subscriber>-<type>.yaml, lints the home and "
            "reloads the hub; the file is removed again if either refuses. Operator key.",
            {
                "200": json_answer(_ref("SubscriptionAnswer"), "Approved and applied."),
                "403": OPERATOR_ONLY,
                "404": NOT_A_SUBSCRIPTION,
                "409": DECIDED,
                "422": problem_answer("The lint or the reload refused; errors lists each problem."),
            },
            [SUBSCRIPTION_ID],
        ),
        ("post", "/v1/subscriptions/{subscription_id}/reject"): _operation(
            "rejectSubscription",
            "Rejects with a reason, for the department. Operator key.",
            {
                "200": json_answer(_ref("SubscriptionAnswer"), "Rejected."),
                "400": problem_answer("The body is not JSON."),
                "403": OPERATOR_ONLY,
                "404": NOT_A_SUBSCRIPTION,
                "409": DECIDED,
                "422": problem_answer("No reason given."),
            },
            [SUBSCRIPTION_ID],
            body=reject_body["requestBody"],
        ),
    }


def register(subscription_body: dict[str, Any], reject_body: dict[str, Any]) -> None:
    """Add ours to the operations the hub's document describes in full."""
    openapi.OPERATIONS.update(operations(subscription_body, reject_body))
