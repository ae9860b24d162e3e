from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import FakeDepartment, HubProcess, make_home

SAMR = "samr.EnterpriseRegistration"


def routes_for(dept: FakeDepartment) -> str:
    """Demo-shaped routes whose endpoints are the test's fake departments (quick retries)."""
    endpoint = """
  - name: {name}
    url: {url}
    format: {format}
    timeout: 2
    retry: {{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}}"""
    endpoints = "".join(
        endpoint.format(name=name, url=dept.url(name), format=fmt)
        for name, fmt in (
            ("tax-bureau", "tax.TaxpayerRegistration"),
            ("social-security", "hrss.EmployerRegistration"),
            ("legal-entity-registry", "canonical.LegalEntity"),
        )
    )
    return f"""endpoints:{endpoints}
routes:
  - name: registration-fan-out
    match: {{message_type: {SAMR}, senders: [samr-reg]}}
    destinations:
      - endpoint: tax-bureau
      - endpoint: legal-entity-registry
        adapters: [samr-to-canonical]
      - endpoint: social-security
senders:
  - code: samr-reg
    may_send: [{SAMR}]
  - code: tax-system
    may_send: [tax.TaxpayerRegistration]
"""


@pytest.fixture(scope="module")
def dept() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    yield department
    department.stop()


def backbone_env(request: pytest.FixtureRequest, backbone: str) -> dict[str, str]:
    """Settings that put a hub on ``backbone``: the embedded default, or the session's Kafka
    broker with topics and groups of its own."""
    if backbone == "embedded":
        return {}
    broker = request.getfixturevalue("kafka_broker")
    return {
        "EXCHANGE_BACKBONE": f"kafka://{broker.bootstrap}",
        "EXCHANGE_KAFKA_PREFIX": f"test-{uuid.uuid4().hex[:8]}.",
        "EXCHANGE_KAFKA_PARTITIONS": "3",
    }


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def hub(
    request: pytest.FixtureRequest, dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    """The hub on each backbone in turn: every test using it runs on both."""
    tmp: Path = tmp_path_factory.mktemp("hub")
    process = HubProcess(
        home=make_home(tmp, routes_for(dept)),
        data_dir=tmp / "var",
        env=backbone_env(request, request.param),
    )
    process.start()
    yield process
    process.stop()
    assert process.stopped_cleanly, process.log()
