"""The hub's own OpenAPI document, held to account against a real hub.

A generated client is only as good as the document: every operation must say how
to authenticate, which headers and body it takes, and every answer it can give.
Here a real ``exchange serve`` serves /openapi.json; the document is read from it,
real answers (accepted, duplicate, traced, dead-lettered, replayed, every refusal)
are checked against it, and then schemathesis fuzzes every operation from it: each
answer must be a documented status with the documented content type, headers and
schema, and no 5xx but a documented 503.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import schemathesis
from aiohttp import web
from schemathesis import Case

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tests.integration.openapi_fuzz_keys import OPERATOR_KEY, SENDER_KEY

VALID = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))
INVALID = sorted((SAMR_SAMPLES / "invalid").glob("*.xml"))
MAX_BYTES = 64 * 1024  # a small limit, so that a 413 costs little to provoke
# Each fuzzed operation gets up to this many cases per phase (coverage, fuzzing): a few
# seconds in all on a busy 2-core machine.
MAX_EXAMPLES = 100
HOOKS = Path(__file__).with_name("openapi_fuzz_keys.py")

STATUSES = {
    ("post", "/v1/messages"): {
        "202",
        "400",
        "401",
        "403",
        "408",
        "431",
        "413",
        "415",
        "422",
        "503",
    },
    ("get", "/v1/messages/{hub_id}"): {"200", "401", "403", "404", "408", "431", "503"},
    ("get", "/v1/dead-letters"): {"200", "400", "401", "403", "408", "431", "503"},
    ("post", "/v1/dead-letters/{dead_letter_id}/replay"): {
        "202",
        "401",
        "403",
        "404",
        "408",
        "409",
        "431",
        "503",
    },
    ("get", "/healthz"): {"200", "408", "431", "503"},
    ("post", "/v1/admin/reload"): {"200", "401", "403", "408", "422", "431", "503"},
    ("get", "/v1/catalog"): {"200", "401", "408", "431", "503"},
    ("get", "/v1/catalog/{message_type}"): {"200", "401", "404", "408", "431", "503"},
    ("get", "/v1/catalog/{message_type}/{version}/files/{path}"): {
        "200",
        "401",
        "404",
        "408",
        "431",
        "503",
    },
    ("get", "/v1/subscriptions"): {"200", "401", "408", "431", "503"},
    ("post", "/v1/subscriptions"): {"201", "400", "401", "408", "422", "431", "503"},
    ("get", "/v1/subscriptions/{subscription_id}"): {
        "200",
        "401",
        "403",
        "404",
        "408",
        "431",
        "503",
    },
    ("post", "/v1/subscriptions/{subscription_id}/approve"): {
        "200",
        "401",
        "403",
        "404",
        "408",
        "409",
        "422",
        "431",
        "503",
    },
    ("post", "/v1/subscriptions/{subscription_id}/reject"): {
        "200",
        "400",
        "401",
        "403",
        "404",
        "408",
        "409",
        "422",
        "431",
        "503",
    },
}
ENVELOPE = [
    "X-Exchange-Sender",
    "X-Exchange-Message-Id",
    "X-Exchange-Correlation-Id",
    "X-Exchange-Message-Type",
    "X-Exchange-Schema-Version",
]


@pytest.fixture(scope="module")
def fuzzed_hub(
    dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    process = HubProcess(
        home=make_home(tmp, routes_for(dept)),
        data_dir=tmp / "var",
        env={"EXCHANGE_MAX_MESSAGE_BYTES": str(MAX_BYTES)},
    )
    process.start()
    yield process
    process.stop()
    assert process.stopped_cleanly, process.log()


@pytest.fixture(scope="module")
def keys(fuzzed_hub: HubProcess) -> dict[str, str]:
    return {
        "sender": fuzzed_hub.create_key("samr-reg"),
        "operator": fuzzed_hub.create_key("ops", operator=True),
    }


@pytest.fixture(scope="module")
def document(fuzzed_hub: HubProcess) -> dict[str, Any]:
    response = httpx.get(f"{fuzzed_hub.url}/openapi.json")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture(scope="module")
def api(fuzzed_hub: HubProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_hub.url}/openapi.json")


@pytest.fixture(scope="module")
def seeded(fuzzed_hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]) -> dict[str, Any]:
    """Messages delivered and dead-lettered (social security refuses everything), so that
    listings, traces and replays have real rows to answer with."""
    dept.behaviours["social-security"] = lambda _, __: web.Response(status=400, text="no")
    auth = {"Authorization": f"Bearer {keys['sender']}", "Content-Type": "application/xml"}
    hub_ids = []
    for sample in VALID[:3]:
        answer = httpx.post(
            f"{fuzzed_hub.url}/v1/messages",
            content=sample.read_bytes(),
            headers={**auth, "X-Exchange-Message-Id": f"seed-{uuid.uuid4()}"},
        )
        assert answer.status_code == 202, answer.text
        hub_ids.append(answer.json()["id"])
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    listing: dict[str, Any] = {}

    def all_dead_lettered() -> bool:
        listing.update(httpx.get(f"{fuzzed_hub.url}/v1/dead-letters", headers=operator).json())
        return len(listing["dead_letters"]) >= len(hub_ids)

    wait_for(all_dead_lettered, timeout=30)
    return {"messages": hub_ids, "dead_letters": [d["id"] for d in listing["dead_letters"]]}


def test_the_document_says_how_to_authenticate_and_what_every_operation_answers(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": schemes["bearerAuth"]["description"],
        }
    }
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == set(STATUSES)
    for key, operation in operations.items():
        assert set(operation["responses"]) == STATUSES[key], key
        needs_key = key != ("get", "/healthz")
        assert operation["security"] == ([{"bearerAuth": []}] if needs_key else []), key
        if needs_key:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], key
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in answer["content"], (key, status)

    submit = operations[("post", "/v1/messages")]
    headers = {p["name"]: p for p in submit["parameters"] if p["in"] == "header"}
    assert list(headers) == ENVELOPE
    for name in ("X-Exchange-Message-Id", "X-Exchange-Correlation-Id"):
        assert headers[name]["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[!-~]+$",
        }
    body = submit["requestBody"]
    assert body["required"] is True
    assert {media: c["schema"] for media, c in body["content"].items()} == {
        "application/xml": {"type": "string"},
        "text/xml": {"type": "string"},
        "application/*+xml": {"type": "string"},
    }
    accepted = submit["responses"]["202"]
    assert set(accepted["headers"]) == {"Location", "X-Exchange-Duplicate"}

    schemas = document["components"]["schemas"]
    assert set(schemas["Problem"]["properties"]) == {"type", "title", "status", "detail", "errors"}
    assert set(schemas["ProblemItem"]["properties"]) == {"line", "path", "message", "rule"}
    assert set(schemas["Accepted"]["required"]) == {"id", "status", "message_id", "correlation_id"}
    assert {"trace", "deliveries"} <= set(schemas["Message"]["required"])
    assert set(schemas["DeadLetterPage"]["required"]) == {"dead_letters", "next_cursor"}
    listing = operations[("get", "/v1/dead-letters")]
    assert {p["name"] for p in listing["parameters"]} == {
        "limit",
        "cursor",
        "include_replayed",
        "endpoint",
    }


CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def answer(case: Case[Any], status: int) -> Any:
    """The hub's answer to ``case``, which must be ``status`` and keep to the document."""
    response = case.call_and_validate(checks=CONFORMANCE)
    assert response.status_code == status, response.text[:500]
    return response


def test_real_answers_keep_to_the_document(
    api: schemathesis.BaseSchema, keys: dict[str, str], seeded: dict[str, Any]
) -> None:
    submit = api["/v1/messages"]["POST"]
    sender = {"Authorization": f"Bearer {keys['sender']}"}
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    xml = "application/xml"
    message_id = f"doc-{uuid.uuid4()}"

    def post(body: bytes, media_type: str = xml, **headers: str) -> Case[Any]:
        return submit.Case(body=body, media_type=media_type, headers={**sender, **headers})

    first = answer(post(VALID[0].read_bytes(), **{"X-Exchange-Message-Id": message_id}), 202)
    again = answer(post(VALID[0].read_bytes(), **{"X-Exchange-Message-Id": message_id}), 202)
    assert again.headers["x-exchange-duplicate"] == ["true"]  # lower-cased, listed
    answer(post(INVALID[0].read_bytes()), 422)
    answer(post(b"<not-closed>"), 400)
    answer(post(VALID[0].read_bytes(), **{"X-Exchange-Message-Id": "x" * 129}), 400)
    answer(post(b"x" * (MAX_BYTES + 1)), 413)
    answer(post(VALID[0].read_bytes(), **{"X-Exchange-Message-Type": "x" * 300_000}), 431)
    answer(post(VALID[0].read_bytes(), **{"X-Exchange-Sender": "someone-else"}), 403)
    answer(submit.Case(body=VALID[0].read_bytes(), media_type=xml, headers={}), 401)
    answer(post(VALID[0].read_bytes(), media_type="text/xml"), 202)

    message = api["/v1/messages/{hub_id}"]["GET"]
    traced = answer(
        message.Case(path_parameters={"hub_id": seeded["messages"][0]}, headers=sender), 200
    )
    assert traced.json()["trace"] and traced.json()["deliveries"]
    answer(message.Case(path_parameters={"hub_id": first.json()["id"]}, headers=operator), 200)
    answer(message.Case(path_parameters={"hub_id": str(uuid.uuid4())}, headers=sender), 404)
    # No route matches an id holding '/': the framework's 404, a problem too.
    answer(message.Case(path_parameters={"hub_id": "not/an/id"}, headers=sender), 404)

    listing = api["/v1/dead-letters"]["GET"]
    page = answer(listing.Case(query={"limit": 1}, headers=operator), 200).json()
    assert len(page["dead_letters"]) == 1 and page["next_cursor"]
    answer(listing.Case(query={"cursor": page["next_cursor"]}, headers=operator), 200)
    answer(listing.Case(query={"limit": 0}, headers=operator), 400)
    answer(listing.Case(headers=sender), 403)

    replay = api["/v1/dead-letters/{dead_letter_id}/replay"]["POST"]
    dead_id = {"dead_letter_id": seeded["dead_letters"][0]}
    assert answer(replay.Case(path_parameters=dead_id, headers=operator), 202).json()["status"]
    answer(
        replay.Case(path_parameters={"dead_letter_id": str(uuid.uuid4())}, headers=operator), 404
    )
    answer(replay.Case(path_parameters=dead_id), 401)

    answer(api["/healthz"]["GET"].Case(), 200)


def test_a_method_no_operation_takes_is_refused_as_a_problem(fuzzed_hub: HubProcess) -> None:
    refused = httpx.delete(f"{fuzzed_hub.url}/v1/messages")
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["allow"] == "POST"
    assert refused.json()["detail"] == "DELETE is not allowed on /v1/messages; use POST"


def fuzz_config(seeded: dict[str, Any]) -> str:
    """schemathesis.toml for the run: keys from openapi_fuzz_keys.py, and real ids among
    the generated ones so that fuzzing also reaches existing rows."""

    def strings(values: list[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    # A schema-valid request can still be refused: an XML document is judged by its XSD
    # (400/422), a cursor is opaque (400) and the fuzzer's sender code is not the key's (403).
    refusable = '["2xx", "400", "401", "403", "404", "422"]'
    return f"""
hooks = "{HOOKS}"

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"
deterministic = true

[phases.stateful]
enabled = false

[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]

[checks.positive_data_acceptance]
expected-statuses = {refusable}

[dictionaries.messages]
values = {strings(seeded["messages"])}

[dictionaries.dead_letters]
values = {strings(seeded["dead_letters"])}

[parameters]
"path.hub_id" = {{ dictionary = "messages", probability = 0.5 }}
"path.dead_letter_id" = {{ dictionary = "dead_letters", probability = 0.5 }}
"""


def test_fuzzing_every_operation_finds_no_answer_outside_the_document(
    fuzzed_hub: HubProcess, keys: dict[str, str], seeded: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(fuzz_config(seeded), encoding="utf-8")
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{fuzzed_hub.url}/openapi.json",
            "--checks",
            "all",
            # One worker: with two threads, Hypothesis's ast.parse of its own strategies' lambdas
            # now and then fails in CPython 3.11 ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, SENDER_KEY: keys["sender"], OPERATOR_KEY: keys["operator"]},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    tested = {case.get("name") for case in ElementTree.parse(junit).iter("testcase")}
    assert tested == {f"{method.upper()} {path}" for method, path in STATUSES}, run.stdout
