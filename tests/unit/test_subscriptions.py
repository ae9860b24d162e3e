"""Subscriptions: requests checked against the rule set, and what an approval writes.

The store is a real SQLite file and the routes file is linted and loaded for real; only the
reload is a stand-in here (the integration test uses the hub's own).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from exchange.catalog.requests import RequestRefused, SubscriptionRequest, check_request
from exchange.catalog.subscriptions import Refusal, SubscriptionDesk
from exchange.ruleset import RuleSet
from exchange.store import Store
from exchange.store.subscriptions import Subscriptions
from tests.harness import REPO

SAMR = "samr.EnterpriseRegistration"
SAMR_NS = "urn:cn:gov:samr:enterprise-registration:1"


def _request(**fields: object) -> SubscriptionRequest:
    data: dict[str, object] = {
        "message_type": SAMR,
        "format": "hrss.EmployerRegistration",
        "endpoint": {"url": "https://hr.example.gov.cn/inbox"},
    }
    data.update(fields)
    return SubscriptionRequest.model_validate(data)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.load(REPO)


def test_a_good_request_resolves_its_chain(rules: RuleSet) -> None:
    resolved = check_request(_request(), rules)
    assert resolved.message_type == SAMR
    assert resolved.format == "hrss.EmployerRegistration"
    assert resolved.adapters == ("samr-to-canonical", "canonical-to-hrss")
    assert resolved.endpoint is None
    same = check_request(_request(format=None), rules)
    assert same.format == SAMR and same.adapters == ()


def test_an_existing_endpoint_gives_its_format(rules: RuleSet) -> None:
    resolved = check_request(_request(format=None, endpoint="legal-entity-registry"), rules)
    assert resolved.endpoint == "legal-entity-registry"
    assert resolved.format == "canonical.LegalEntity"
    with pytest.raises(RequestRefused, match=r"receives canonical\.LegalEntity, not hrss"):
        check_request(_request(endpoint="legal-entity-registry"), rules)
    with pytest.raises(RequestRefused, match="endpoint 'nowhere' does not exist"):
        check_request(_request(endpoint="nowhere"), rules)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"message_type": "samr.EnterpriseRegistraton"},
            "did you mean 'samr.EnterpriseRegistration'",
        ),
        ({"format": "mps.ResidentRecord"}, "format 'mps.ResidentRecord' is not a registered"),
        # canonical → samr: no adapter leads back to the market regulator's format
        (
            {"message_type": "canonical.LegalEntity", "format": SAMR},
            "no adapter chain from canonical.LegalEntity to samr.EnterpriseRegistration",
        ),
        ({"xpath": ["/samr:EnterpriseRegistration["]}, "uses the undeclared prefix 'samr'"),
        (
            {"xpath": ["/samr:EnterpriseRegistration["], "namespaces": {"samr": SAMR_NS}},
            "does not compile",
        ),
        ({"endpoint": {"url": "ftp://hr.example.gov.cn/inbox"}}, "must be an http:// or https://"),
        ({"endpoint": {"url": "https:///inbox"}}, "must be an http:// or https://"),
    ],
)
def test_refusals_name_the_problem(
    rules: RuleSet, fields: dict[str, object], expected: str
) -> None:
    with pytest.raises(RequestRefused) as refused:
        check_request(_request(**fields), rules)
    assert any(expected in problem for problem in refused.value.problems), refused.value.problems


@dataclass
class StandInReloader:
    """Loads the home as the hub's reloader would, and says what it was asked."""

    home: Path
    refuse: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    loaded: RuleSet | None = None

    async def reload(self, reason: str) -> StandInOutcome:
        self.reasons.append(reason)
        if self.refuse:
            return StandInOutcome("000000000000", False, self.refuse)
        self.loaded = RuleSet.load(self.home)
        return StandInOutcome("abcdefabcdef", True, [])


@dataclass
class StandInOutcome:
    version: str
    changed: bool
    problems: list[str]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for part in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / part, home / part, ignore=shutil.ignore_patterns("__pycache__"))
    return home


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await store.start()
    yield store
    await store.close()


def _desk(store: Store, home: Path, reloader: StandInReloader | None) -> SubscriptionDesk:
    rules = RuleSet.load(home)
    return SubscriptionDesk(Subscriptions(store.engine), lambda: rules, lambda: reloader)


async def test_approval_writes_a_routes_file_that_loads_and_records_it(
    home: Path, store: Store
) -> None:
    reloader = StandInReloader(home)
    desk = _desk(store, home, reloader)
    asked = _request(
        xpath=["number(/samr:EnterpriseRegistration/samr:EmployeeCount) > 10"],
        namespaces={"samr": SAMR_NS},
    )
    record = await desk.request("hr-bureau", asked)
    assert record.status == "requested" and record.format == "hrss.EmployerRegistration"

    approval = await desk.approve(record.id, "ops")

    relative = f"routes/subscriptions/{record.id}-hr-bureau-samr.enterpriseregistration.yaml"
    assert approval.record.status == "approved"
    assert approval.record.decided_by == "ops" and approval.record.decided_at is not None
    assert approval.record.file == relative
    assert approval.reload == {"version": "abcdefabcdef", "changed": True}
    assert reloader.reasons == [f"subscription {record.id} approved by ops"]
    text = (home / relative).read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == (
        f"# Subscription {record.id}: hr-bureau receives {SAMR} as hrss.EmployerRegistration."
    )
    assert "approved by ops at" in header[1]
    assert "samr-to-canonical → canonical-to-hrss" in text
    data = yaml.safe_load(text)
    assert data["endpoints"] == [
        {
            "name": "hr-bureau-enterpriseregistration",
            "title": f"hr-bureau: {SAMR} (subscription {record.id})",
            "kind": "rest",
            "url": "https://hr.example.gov.cn/inbox",
            "method": "POST",
            "format": "hrss.EmployerRegistration",
            "timeout": 10.0,
        }
    ]
    [route] = data["routes"]
    assert route["match"] == {
        "message_type": SAMR,
        "xpath": ["number(/samr:EnterpriseRegistration/samr:EmployeeCount) > 10"],
    }
    assert route["namespaces"] == {"samr": SAMR_NS}
    assert route["destinations"] == [
        {"endpoint": "hr-bureau-enterpriseregistration"}
    ]  # no adapters
    # The set the reload loaded routes the new destination through the canonical model.
    assert reloader.loaded is not None
    assert "hr-bureau-enterpriseregistration" in reloader.loaded.routing.endpoints
    assert not list((home / "routes" / "subscriptions").glob(".*"))  # no temporary left
    with pytest.raises(Refusal) as again:
        await desk.approve(record.id, "ops")
    assert again.value.status == 409


async def test_a_refused_reload_takes_the_file_back(home: Path, store: Store) -> None:
    reloader = StandInReloader(home, refuse=["routes/x.yaml:3: something is wrong"])
    desk = _desk(store, home, reloader)
    record = await desk.request("hr-bureau", _request())
    with pytest.raises(Refusal) as refused:
        await desk.approve(record.id, "ops")
    assert refused.value.status == 422
    assert refused.value.problems == ["routes/x.yaml:3: something is wrong"]
    assert not any((home / "routes" / "subscriptions").iterdir())
    assert (await desk.get(record.id)).status == "requested"


async def test_a_failing_lint_takes_the_file_back_before_any_reload(
    home: Path, store: Store
) -> None:
    reloader = StandInReloader(home)
    desk = _desk(store, home, reloader)
    record = await desk.request("hr-bureau", _request())
    # Someone hand-wrote the same endpoint name meanwhile: the new file would define it twice.
    (home / "routes" / "hand.yaml").write_text(
        "endpoints:\n  - name: hr-bureau-enterpriseregistration\n"
        "    url: https://other.example/\n    format: hrss.EmployerRegistration\n",
        encoding="utf-8",
    )
    with pytest.raises(Refusal) as refused:
        await desk.approve(record.id, "ops")
    assert refused.value.status == 422
    assert "defined twice" in refused.value.detail
    assert reloader.reasons == []
    assert not any((home / "routes" / "subscriptions").iterdir())


async def test_rejection_is_recorded_and_final(home: Path, store: Store) -> None:
    desk = _desk(store, home, None)
    record = await desk.request("hr-bureau", _request())
    rejected = await desk.reject(record.id, "ops", "use the existing social-security feed")
    assert rejected.status == "rejected" and rejected.reason.startswith("use the existing")
    with pytest.raises(Refusal) as refused:
        await desk.approve(record.id, "ops")
    assert refused.value.status == 409
    assert [r.id for r in await desk.list("hr-bureau")] == [record.id]
    assert await desk.list("someone-else") == []
    with pytest.raises(Refusal) as unknown:
        await desk.get(999)
    assert unknown.value.status == 404
