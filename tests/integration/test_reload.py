"""Hot reload on a running hub in three processes while messages keep arriving.

A sender posts throughout while the test adds a route to a new endpoint (``exchange
reload``), offers a broken routes file (refused by ``POST /v1/admin/reload``, the set
unchanged), and removes the route again (the file watcher).  Then it counts: every accepted
message reached each destination of the one rule set its trace says routed it, exactly once;
the new endpoint got exactly the messages the new set routed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for

FAN_OUT = ("tax-bureau", "legal-entity-registry", "social-security")

ARCHIVE = """endpoints:
  - name: archive
    url: {url}
    format: canonical.LegalEntity
    timeout: 2
    retry: {{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}}
routes:
  - name: registrations-to-archive
    match: {{message_type: samr.EnterpriseRegistration, senders: [samr-reg]}}
    destinations:
      - endpoint: archive
        adapters: [samr-to-canonical]
"""

BROKEN = """routes:
  - name: to-nowhere
    match: {message_type: samr.EnterpriseRegistration}
    destinations:
      - endpoint: no-such-endpoint
"""


class Sender(threading.Thread):
    """Posts one registration after another until stopped; keeps the accepted ids."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.key = key
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        body = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/xml"}
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                answer = client.post(
                    f"{self.url}/v1/messages",
                    content=body,
                    headers={**headers, "X-Exchange-Message-Id": f"reload-{n}"},
                )
                if answer.status_code == 202:
                    self.accepted.append(answer.json()["id"])
                else:
                    self.refused.append(f"{answer.status_code} {answer.text}")
                time.sleep(0.01)


def rules_of(hub: HubProcess) -> dict[str, Any]:
    rules: dict[str, Any] = httpx.get(f"{hub.url}/healthz", timeout=5).json()["rules"]
    return rules


def ready(rules: dict[str, Any]) -> bool:
    """Each of the three processes runs the front door's version."""
    versions = list(rules["processes"].values())
    return len(versions) == 3 and set(versions) == {rules["version"]}


def routed_by(hub: HubProcess, key: str, hub_id: str) -> str | None:
    found = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}, timeout=5
    ).json()
    steps = [s for s in found.get("trace", []) if s["step"] == "routed"]
    return steps[0].get("rules") if steps else None


def routed_in_store(hub: HubProcess) -> dict[str, str | None]:
    """Each message's ``routed`` step's rule-set version, as the indexer stored it."""
    with sqlite3.connect(hub.data_dir / "store.db") as db:
        rows = db.execute("SELECT message, detail FROM steps WHERE step = 'routed'").fetchall()
    return {message: json.loads(detail).get("rules") for message, detail in rows}


def documents_for(hub: HubProcess, endpoint: str) -> set[str]:
    """The messages whose document for ``endpoint`` the store keeps."""
    with sqlite3.connect(hub.data_dir / "store.db") as db:
        rows = db.execute("SELECT message FROM documents WHERE endpoint = ?", (endpoint,))
        return {message for (message,) in rows}


def sent_until(sender: Sender, count: int) -> None:
    wait_for(lambda: len(sender.accepted) >= count, timeout=30, every=0.02)


def test_reload_while_messages_flow(dept: FakeDepartment, tmp_path: Path) -> None:
    dept.reset()
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(
        home=home,
        data_dir=tmp_path / "var",
        args=["--processes", "3"],
        env={"EXCHANGE_WATCH": "1"},
    )
    key = hub.create_key("samr-reg")
    operator = hub.create_key("ops", operator=True)
    hub.start()
    sender = Sender(hub.url, key)
    try:
        wait_for(lambda: ready(rules_of(hub)), timeout=60)
        first = rules_of(hub)
        started = time.monotonic()
        sender.start()
        sent_until(sender, 80)

        # 1. A new route to a new endpoint, applied by `exchange reload`.
        extra = home / "routes" / "archive.yaml"
        extra.write_text(ARCHIVE.format(url=dept.url("archive")), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "exchange", "reload", "--url", hub.url, "--key", operator],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        second = rules_of(hub)
        assert second["version"] != first["version"]
        assert second["version"] in done.stdout  # "now running" or, if the watcher won, same
        assert set(second["processes"].values()) == {second["version"]}
        sent_until(sender, len(sender.accepted) + 80)

        # 2. A broken file: refused with the lint's line, the set unchanged everywhere.
        broken = home / "routes" / "broken.yaml"
        broken.write_text(BROKEN, encoding="utf-8")
        answer = httpx.post(
            f"{hub.url}/v1/admin/reload",
            headers={"Authorization": f"Bearer {operator}"},
            timeout=60,
        )
        assert answer.status_code == 422, answer.text
        assert any("no-such-endpoint" in line for line in answer.json()["errors"])
        assert rules_of(hub)["version"] == second["version"]
        refused = subprocess.run(
            [sys.executable, "-m", "exchange", "reload", "--url", hub.url, "--key", operator],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1 and "no-such-endpoint" in refused.stderr
        broken.unlink()
        sent_until(sender, len(sender.accepted) + 80)

        # 3. The route removed again, picked up by the file watcher: back to the first set.
        extra.unlink()
        wait_for(lambda: rules_of(hub)["version"] == first["version"], timeout=15)
        third = rules_of(hub)
        assert set(third["processes"].values()) == {first["version"]}
        sent_until(sender, len(sender.accepted) + 80)
        sender.stop.set()
        sender.join(timeout=15)
        print(f"{len(sender.accepted)} accepted in {time.monotonic() - started:.1f} s")
        accepted = sender.accepted
        assert not sender.refused, sender.refused[:3]
        assert len(accepted) >= 300
        everyone = set(accepted)
        assert len(everyone) == len(accepted)
        for name in FAN_OUT:
            wait_for(lambda name=name: dept.distinct_ids(name) >= everyone, timeout=30)
        # Every trace, from the store in one query; a few through the API as well.
        wait_for(lambda: len(routed_in_store(hub)) >= len(everyone), timeout=30)
        by = routed_in_store(hub)
        assert set(by) >= everyone
        for hub_id in (accepted[0], accepted[len(accepted) // 2], accepted[-1]):
            assert routed_by(hub, key, hub_id) == by[hub_id]
        with_archive = {i for i, version in by.items() if version == second["version"]}
        assert set(by.values()) == {first["version"], second["version"]}
        assert with_archive, "no message was routed by the reloaded set"
        wait_for(lambda: dept.distinct_ids("archive") >= with_archive, timeout=30)
        time.sleep(0.5)  # anything delivered twice or to the wrong set would have come by now
        for name in (*FAN_OUT, "archive"):
            counts = Counter(h["x-exchange-id"] for h, _ in dept.received.get(name, []))
            twice = [i for i, n in counts.items() if n > 1]
            assert not twice, f"{name} got {len(twice)} message(s) twice"
        assert dept.distinct_ids("archive") == with_archive
        # The console's documents follow the new endpoint too (the writer's new topic).
        wait_for(lambda: documents_for(hub, "archive") >= with_archive, timeout=30)
        for name in FAN_OUT:
            assert dept.distinct_ids(name) == everyone
    finally:
        sender.stop.set()
        if sender.is_alive():
            sender.join(timeout=15)
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
    assert "refused" in hub.log() and "no-such-endpoint" in hub.log()
