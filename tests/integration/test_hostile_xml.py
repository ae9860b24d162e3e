"""Hostile XML over HTTP: each attack gets a clear 4xx, nothing is read or fetched,
memory stays bounded and the hub stays healthy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, HubProcess, free_port
from tests.hostile import all_attacks, xinclude

SECRET = "TOP-SECRET-MARKER-7f3a"


class Listener:
    """Counts connection attempts: an attack that makes the hub fetch a URL shows up here."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen()
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture(scope="module")
def key(hub: HubProcess) -> str:
    return hub.create_key("samr-reg")


def _post(hub: HubProcess, key: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/v1/messages",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        timeout=30,
    )


def test_every_attack_is_refused_and_nothing_is_read_or_fetched(
    hub: HubProcess, key: str, listener: Listener, secret_file: Path
) -> None:
    url = f"http://127.0.0.1:{listener.port}/evil.dtd"
    rss_before = hub.rss_kib()
    for name, (body, status) in all_attacks(secret_file, url).items():
        for _ in range(3):  # repeated, so growth would show
            answer = _post(hub, key, body)
            assert answer.status_code == status, (name, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert SECRET not in answer.text, name
            assert answer.json()["detail"], name
    assert listener.connections == 0
    grown_mib = (hub.rss_kib() - rss_before) / 1024
    assert grown_mib < 64, f"hub grew by {grown_mib:.0f} MiB"
    health = httpx.get(f"{hub.url}/healthz")
    assert health.status_code == 200
    valid = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    assert _post(hub, key, valid).status_code == 202


def test_xinclude_is_never_processed(hub: HubProcess, key: str, secret_file: Path) -> None:
    answer = _post(hub, key, xinclude(secret_file))
    assert answer.status_code == 422  # parsed as a plain unknown document, never included
    assert SECRET not in answer.text
