"""The HTTP server's read limits, over raw sockets against an ``exchange serve`` process:
slow headers, stalled or trickling bodies, oversized headers, idle kept-alive connections
and the cap on open connections, each with the normal traffic still served around it."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
KEEPALIVE = 2
CAP = 10
SAMPLE = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()


@pytest.fixture(scope="module")
def hub(dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    process = HubProcess(
        home=make_home(tmp, routes_for(dept)),
        data_dir=tmp / "var",
        env={
            "EXCHANGE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "EXCHANGE_BODY_TIMEOUT": str(BODY_TIMEOUT),
            "EXCHANGE_BODY_MIN_RATE": "1000",
            "EXCHANGE_KEEPALIVE_TIMEOUT": str(KEEPALIVE),
            "EXCHANGE_MAX_CONNECTIONS": str(CAP),
        },
    )
    process.start()
    yield process
    process.stop()
    assert process.stopped_cleanly, process.log()
    assert "Traceback" not in process.log(), process.log()


@pytest.fixture(scope="module")
def key(hub: HubProcess) -> str:
    return hub.create_key("samr-reg")


@pytest.fixture(autouse=True)
def _fresh_department(dept: FakeDepartment) -> None:
    dept.reset()


# --------------------------------------------------------------------------- raw HTTP


def connect(hub: HubProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", hub.port), timeout=5)


def head(method: str, path: str, **headers: str) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def submission(
    key: str, body: bytes, *, length: int | None = None, message_id: str | None = None
) -> bytes:
    return head(
        "POST",
        "/v1/messages",
        Authorization=f"Bearer {key}",
        **{
            "Content-Type": "application/xml",
            "Content-Length": str(len(body) if length is None else length),
            "X-Exchange-Message-Id": message_id or uuid.uuid4().hex,
        },
    )


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, bool]:
    """What the server sent, and whether it closed the connection within ``limit`` s."""
    received = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length body, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole answer: {data!r}"
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of an answer"
        body += chunk
    return int(status_line.split()[1]), headers, body


def parse(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    top, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, json.loads(body)


def messages(hub: HubProcess) -> int:
    """How many messages the hub's store holds, whatever their status now."""
    with contextlib.closing(sqlite3.connect(hub.data_dir / "store.db")) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    return int(count)


def settled_messages(hub: HubProcess) -> int:
    """``messages`` once the store has stopped changing (what earlier tests sent is indexed,
    and so would be anything this one made the hub accept)."""
    seen = [messages(hub)]
    deadline = time.monotonic() + 10
    while len(seen) < 4 or len(set(seen[-4:])) > 1:
        assert time.monotonic() < deadline, f"the store kept changing: {seen}"
        time.sleep(0.2)
        seen.append(messages(hub))
    return seen[-1]


# --------------------------------------------------------------------------- normal traffic


def test_a_request_sent_in_pieces_is_served_and_the_connection_kept(
    hub: HubProcess, key: str
) -> None:
    with connect(hub) as sock:
        for _ in range(2):
            request = submission(key, SAMPLE)
            sock.sendall(request[:40])
            time.sleep(HEADER_TIMEOUT / 3)
            sock.sendall(request[40:])
            time.sleep(BODY_TIMEOUT / 3)
            sock.sendall(SAMPLE[:100])
            time.sleep(BODY_TIMEOUT / 3)
            sock.sendall(SAMPLE[100:])
            status, _, body = read_response(sock)
            assert status == 202, body


# --------------------------------------------------------------------------- headers


def test_headers_sent_slowly_get_408_and_the_connection_is_closed(hub: HubProcess) -> None:
    with connect(hub) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        received, closed = b"", False
        while not closed and time.monotonic() - started < 5:
            try:
                sock.sendall(b"a")  # a byte of header every 0.1 s, never the end
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            more, closed = read_until_closed(sock, 0.1)
            received += more
        elapsed = time.monotonic() - started
    assert closed, "the server kept a connection whose headers never ended"
    assert HEADER_TIMEOUT * 0.8 <= elapsed < HEADER_TIMEOUT + 2, elapsed
    status, headers, problem = parse(received)
    assert status == 408
    assert headers["content-type"] == "application/problem+json"
    assert "EXCHANGE_HEADER_TIMEOUT" in problem["detail"]


def test_a_connection_that_sends_nothing_is_closed(hub: HubProcess) -> None:
    with connect(hub) as sock:
        started = time.monotonic()
        received, closed = read_until_closed(sock, 5)
        elapsed = time.monotonic() - started
    assert closed and received == b""
    assert HEADER_TIMEOUT * 0.8 <= elapsed < HEADER_TIMEOUT + 2, elapsed


def test_many_slow_connections_are_all_closed_and_the_hub_serves_on(
    hub: HubProcess, key: str
) -> None:
    loris = [connect(hub) for _ in range(4 * CAP)]  # most of them over the cap
    try:
        for sock in loris:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        deadline = time.monotonic() + 5
        for sock in loris:
            _, closed = read_until_closed(sock, max(deadline - time.monotonic(), 0.01))
            assert closed, "a slow connection outlived the header time-out"
        assert time.monotonic() < deadline
    finally:
        for sock in loris:
            sock.close()
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=SAMPLE,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def test_oversized_headers_get_431(hub: HubProcess) -> None:
    with connect(hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for n in range(100):  # 100 KiB of headers, quickly
                sock.sendall(b"X-Filler-%d: %s\r\n" % (n, b"f" * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, closed = read_until_closed(sock, 5)
    assert closed
    status, _, problem = parse(received)
    assert status == 431, problem
    assert "headers are over" in problem["detail"]


def test_oversized_headers_in_one_write_get_431(hub: HubProcess) -> None:
    # ~70 KiB, whole headers in one write: the parser could complete them in one read.
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"f" * 1000) for n in range(70))
    with connect(hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler + b"\r\n")
        received, closed = read_until_closed(sock, 5)
    assert closed
    status, _, problem = parse(received)
    assert status == 431, problem


# --------------------------------------------------------------------------- bodies


def soap_submission(length: int) -> bytes:
    return head(
        "POST",
        "/soap",
        **{"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"Submit"'},
        **{"Content-Length": str(length)},
    )


@pytest.mark.parametrize("door", ["rest", "soap"])
def test_a_body_shorter_than_its_content_length_gets_408(
    hub: HubProcess, key: str, door: str
) -> None:
    before = settled_messages(hub)
    message_id = uuid.uuid4().hex
    request = submission(key, SAMPLE, length=len(SAMPLE) + 500, message_id=message_id)
    if door == "soap":
        request = soap_submission(len(SAMPLE) + 500)
    with connect(hub) as sock:
        sock.sendall(request + SAMPLE[:200])
        started = time.monotonic()
        received, closed = read_until_closed(sock, 5)
        elapsed = time.monotonic() - started
    assert closed, "the server kept waiting for the rest of the body"
    assert BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + 2, elapsed
    status, headers, problem = parse(received)
    assert status == 408, problem
    assert headers["content-type"] == "application/problem+json"
    assert "nothing was accepted" in problem["detail"]
    assert settled_messages(hub) == before
    # Nothing was accepted: the same message id, sent whole, is a first submission.
    with connect(hub) as sock:
        sock.sendall(submission(key, SAMPLE, message_id=message_id) + SAMPLE)
        status, headers, body = read_response(sock)
    assert status == 202, body
    assert "x-exchange-duplicate" not in headers


def test_a_trickling_body_gets_408(hub: HubProcess, key: str) -> None:
    # A byte every 0.1 s never pauses for the body time-out, but averages 10 bytes/s
    # against the minimum of 1000.
    with connect(hub) as sock:
        sock.sendall(submission(key, SAMPLE))
        started = time.monotonic()
        received, closed = b"", False
        for byte in SAMPLE:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            more, closed = read_until_closed(sock, 0.1)
            received += more
            if closed or time.monotonic() - started > 5:
                break
        elapsed = time.monotonic() - started
    assert closed, "the server kept a body trickling in at 10 bytes/s"
    assert elapsed < BODY_TIMEOUT + 2, elapsed
    status, _, problem = parse(received)
    assert status == 408, problem


# --------------------------------------------------------------------------- connections


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    hub: HubProcess,
) -> None:
    with connect(hub) as sock:
        sock.sendall(head("GET", "/healthz"))
        status, _, _ = read_response(sock)
        assert status == 200
        started = time.monotonic()
        received, closed = read_until_closed(sock, KEEPALIVE + 3)
        elapsed = time.monotonic() - started
    assert closed and received == b""
    assert KEEPALIVE - 0.5 <= elapsed < KEEPALIVE + 1.5, elapsed


def test_connections_over_the_cap_get_503_and_are_served_once_others_go(
    hub: HubProcess, key: str
) -> None:
    kept = [connect(hub) for _ in range(CAP)]
    try:
        for sock in kept:  # clients with a connection each, kept alive
            sock.sendall(head("GET", "/healthz"))
            assert read_response(sock)[0] == 200
        with connect(hub) as extra:
            started = time.monotonic()
            extra.sendall(head("GET", "/healthz"))
            received, closed = read_until_closed(extra, 5)
            elapsed = time.monotonic() - started
        assert closed and elapsed < 1, elapsed
        status, headers, problem = parse(received)
        assert status == 503, problem
        assert headers["retry-after"] == "1"
        assert "EXCHANGE_MAX_CONNECTIONS" in problem["detail"]
        for sock in kept:  # the admitted ones are still served
            sock.sendall(head("GET", "/healthz"))
            assert read_response(sock)[0] == 200
    finally:
        for sock in kept:
            sock.close()

    def served() -> bool:
        return httpx.get(f"{hub.url}/healthz", timeout=5).status_code == 200

    wait_for(served, timeout=5, every=0.05)
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=SAMPLE,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
