"""A runaway stylesheet on one route: its message is dead-lettered, the hub keeps going.

A real hub with ``--processes 3`` (the router alone in a worker process), then with one
process (the router a task of the serving process). One destination
goes through ``samr-gate``, a stylesheet that recurses exponentially on a marked document:
libxslt cannot be interrupted, so the router gives up on it at its time limit,
dead-letters that message for that destination, commits, and stops its process, which the
supervisor starts again; a single process cannot stop the thread, logs so and goes on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for

MARKER = "RUNAWAY-PLEASE"
GATE = """name: samr-gate
version: "1.0"
kind: xslt
source: samr.EnterpriseRegistration
target: samr.EnterpriseRegistration
title: Copies the document; recurses for ever on a marked one
stylesheet: gate.xsl
"""
# 2^40 template calls on a marked document: hours, well within libxslt's depth limit.
GATE_XSL = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="/">
  <xsl:if test="contains(., '{MARKER}')">
    <xsl:call-template name="f"><xsl:with-param name="n" select="40"/></xsl:call-template>
  </xsl:if>
  <xsl:copy-of select="."/>
</xsl:template>
<xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0">
  <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
  <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
</xsl:if></xsl:template>
</xsl:stylesheet>
"""
GATED = "legal-entity-registry"
OTHERS = ("tax-bureau", "social-security")


def _router_pid(home: Path) -> int | None:
    found = subprocess.run(
        ["pgrep", "-f", "exchange worker router"], capture_output=True, text=True
    )
    for pid in found.stdout.split():
        try:
            if str(home).encode() in Path(f"/proc/{pid}/environ").read_bytes():
                return int(pid)
        except OSError:
            continue
    return None


def _send(hub: HubProcess, key: str, document: bytes) -> str:
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=document,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 202, answer.text
    message_id: str = answer.json()["id"]
    return message_id


def _dead_letters(hub: HubProcess, key: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{hub.url}/v1/dead-letters", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()["dead_letters"]
    return rows


def _count(dept: FakeDepartment, endpoint: str, message_id: str) -> int:
    return sum(h["x-exchange-id"] == message_id for h, _ in dept.received.get(endpoint, []))


@pytest.mark.parametrize("processes", [3, 1])
def test_a_runaway_stylesheet_is_dead_lettered_and_the_hub_goes_on(
    dept: FakeDepartment, tmp_path: Path, processes: int
) -> None:
    dept.reset()
    routes = routes_for(dept).replace(
        "adapters: [samr-to-canonical]", "adapters: [samr-gate, samr-to-canonical]"
    )
    home = make_home(tmp_path, routes)
    gate = home / "adapters" / "samr-gate"
    gate.mkdir()
    # With three processes the gate's own time_limit wins over a long hub default; with
    # one, the hub default (EXCHANGE_ADAPTER_TIME_LIMIT_S) applies to the gate.
    own_limit = processes > 1
    manifest = GATE + ("time_limit: 0.5\n" if own_limit else "")
    (gate / "adapter.yaml").write_text(manifest, encoding="utf-8")
    (gate / "gate.xsl").write_text(GATE_XSL, encoding="utf-8")
    hub = HubProcess(
        home=home,
        data_dir=tmp_path / "var",
        args=["--processes", str(processes)],
        env={"EXCHANGE_ADAPTER_TIME_LIMIT_S": "60" if own_limit else "0.5"},
    )
    key = hub.create_key("samr-reg")
    operator = hub.create_key("ops", operator=True)
    sample = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    marked = sample.replace(b"<Name>", f"<Name>{MARKER}".encode(), 1)
    assert marked != sample
    hub.start()
    try:
        if processes > 1:
            wait_for(lambda: _router_pid(home) is not None)
        router_before = _router_pid(home)
        runaway = _send(hub, key, marked)
        behind = _send(hub, key, sample)

        # Every message reaches the other destinations; the one behind reaches all three.
        # (The marked transform would take hours: reaching these means it was given up.)
        wait_for(lambda: all(_count(dept, e, m) for e in OTHERS for m in (runaway, behind)))
        wait_for(lambda: _count(dept, GATED, behind) == 1)
        wait_for(lambda: any(d["message"] == runaway for d in _dead_letters(hub, operator)))
        (letter,) = [d for d in _dead_letters(hub, operator) if d["message"] == runaway]
        assert letter["endpoint"] == GATED
        assert "adapter 'samr-gate' exceeded its time limit of 0.5 s" in str(letter["reason"])

        if processes > 1:
            # The router's process, whose thread still ran the transform, was started again.
            wait_for(lambda: _router_pid(home) not in (None, router_before))
            assert "stopping this worker process" in hub.log()
        else:
            # One process cannot stop the thread; it says so and goes on with a fresh one.
            assert "restart the hub to stop it" in hub.log()
        assert httpx.get(f"{hub.url}/healthz").status_code == 200
        later = _send(hub, key, sample)
        wait_for(lambda: all(_count(dept, e, later) == 1 for e in (*OTHERS, GATED)))

        # Exactly once: neither the retried routing nor the restart delivered anything twice.
        for message in (runaway, behind):
            assert [_count(dept, e, message) for e in OTHERS] == [1, 1]
        assert _count(dept, GATED, runaway) == 0
        assert _count(dept, GATED, behind) == 1
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
