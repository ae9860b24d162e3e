"""EgressRegistry: kinds, one started instance per kind, plug-ins, helpful errors."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest

from exchange.egress import (
    Egress,
    EgressRegistry,
    Outbound,
    Receipt,
    RestEgress,
    SoapEgress,
    registry,
)
from exchange.errors import ConfigError
from exchange.routing.model import Endpoint


class FakeSoap(Egress):
    """A stand-in plug-in kind (named "fax" so as not to clash with the built-in soap)."""

    kind: ClassVar[str] = "fax"
    built = 0

    def __init__(self) -> None:
        FakeSoap.built += 1
        self.starts = 0
        self.closes = 0

    async def start(self) -> None:
        self.starts += 1

    async def close(self) -> None:
        self.closes += 1

    async def send(self, outbound: Outbound) -> Receipt:
        return Receipt(status=None, detail="ok", elapsed=0.0)


def rest_endpoint(name: str = "tax-in", **extra: object) -> Endpoint:
    return Endpoint.model_validate(
        {"name": name, "url": "http://127.0.0.1:9/in", "format": "tax.Registration", **extra}
    )


async def test_rest_and_soap_are_built_in_and_shared_by_every_endpoint() -> None:
    reg = EgressRegistry(load_entry_points=False)
    assert reg.kinds == ["rest", "soap"]
    assert isinstance(registry.BUILTIN_KINDS["soap"](), SoapEgress)
    await reg.start()
    try:
        first = reg.for_endpoint(rest_endpoint("tax-in"))
        second = reg.for_endpoint(rest_endpoint("social-in"))
        assert isinstance(first, RestEgress)
        assert first is second
    finally:
        await reg.close()


async def test_a_registered_kind_is_started_once_and_closed() -> None:
    reg = EgressRegistry(load_entry_points=False)
    reg.register("fax", FakeSoap)
    await reg.start()
    await reg.start()  # a second start does not start again
    soap = reg.get("fax")
    assert isinstance(soap, FakeSoap)
    assert soap.starts == 1
    await reg.close()
    assert soap.closes == 1


async def test_start_only_some_kinds() -> None:
    before = FakeSoap.built
    reg = EgressRegistry({"rest": RestEgress, "fax": FakeSoap}, load_entry_points=False)
    await reg.start(["rest"])
    try:
        assert FakeSoap.built == before
        with pytest.raises(RuntimeError, match="not started"):
            reg.get("fax")
    finally:
        await reg.close()


async def test_unknown_kind_names_the_known_ones_and_guesses() -> None:
    reg = EgressRegistry({"rest": RestEgress, "fax": FakeSoap}, load_entry_points=False)
    await reg.start()
    try:
        with pytest.raises(ConfigError) as caught:
            reg.get("fxa")
    finally:
        await reg.close()
    message = str(caught.value)
    assert "'fxa'" in message and "did you mean 'fax'?" in message
    assert "fax, rest" in message


async def test_for_endpoint_before_start_says_so() -> None:
    reg = EgressRegistry(load_entry_points=False)
    with pytest.raises(RuntimeError, match="start"):
        reg.for_endpoint(rest_endpoint())


def test_check_names_the_endpoint_of_an_unknown_kind() -> None:
    reg = EgressRegistry(load_entry_points=False)
    endpoint = Endpoint.model_construct(name="old-fax", kind="fax", url="http://x/", format="f")
    with pytest.raises(ConfigError, match="endpoint 'old-fax': unknown egress kind 'fax'"):
        reg.check(endpoint)


async def test_check_asks_the_egress_of_the_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    reg = EgressRegistry(load_entry_points=False)
    await reg.start()
    try:
        reg.check(rest_endpoint())
        with pytest.raises(ConfigError, match="NO_SUCH_TOKEN"):
            reg.check(rest_endpoint(headers={"Authorization": "${NO_SUCH_TOKEN}"}))
    finally:
        await reg.close()


async def test_register_twice_or_after_start_is_refused() -> None:
    reg = EgressRegistry(load_entry_points=False)
    with pytest.raises(ConfigError, match="twice"):
        reg.register("rest", RestEgress)
    await reg.start()
    try:
        with pytest.raises(RuntimeError, match="after start"):
            reg.register("fax", FakeSoap)
    finally:
        await reg.close()


async def test_a_kind_must_match_its_egress() -> None:
    reg = EgressRegistry({"soap": RestEgress}, load_entry_points=False)
    with pytest.raises(ConfigError, match="says its kind is 'rest'"):
        await reg.start()


def fake_entry_points(*entries: EntryPoint) -> object:
    def select(group: str) -> list[EntryPoint]:
        assert group == registry.ENTRY_POINT_GROUP
        return list(entries)

    return select


async def test_kinds_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint("rest", "exchange.egress.rest:RestEgress", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(entry))
    reg = EgressRegistry({})
    assert reg.kinds == ["rest"]
    await reg.start()
    try:
        assert isinstance(reg.get("rest"), RestEgress)
    finally:
        await reg.close()


async def test_broken_entry_point_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint("soap", "no_such_package.soap:SoapEgress", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(entry))
    reg = EgressRegistry({})
    with pytest.raises(ConfigError, match=r"'soap'.*no_such_package.*failed to import"):
        await reg.start()


async def test_entry_point_that_is_not_an_egress(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint("soap", "exchange.errors:Problem", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(entry))
    reg = EgressRegistry({})
    with pytest.raises(ConfigError, match="is not an Egress class"):
        await reg.start()


async def test_built_ins_win_over_entry_points_of_the_same_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = EntryPoint("rest", "no_such_package:Rest", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", fake_entry_points(entry))
    reg = EgressRegistry()
    await reg.start()
    try:
        assert isinstance(reg.get("rest"), RestEgress)
    finally:
        await reg.close()
