"""Chain resolution between message types, and running chains."""

from __future__ import annotations

import pytest
from lxml import etree

from exchange.adapters import Adapter, AdapterRegistry, AdapterSpec, PythonAdapter, translate_chain
from exchange.envelope import Envelope
from exchange.errors import ConfigError, TranslationError


class Rename(PythonAdapter):
    """Wraps the document in an element named after the target type, recording what it saw."""

    seen: list[str]

    def __init__(self, spec: AdapterSpec) -> None:
        super().__init__(spec)
        self.seen = []

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        self.seen.append(envelope.message_type)
        root = etree.Element(self.spec.target.replace(".", "-"))
        root.append(document.getroot().__copy__())
        return etree.ElementTree(root)


def rename(name: str, source: str, target: str) -> Rename:
    return Rename(AdapterSpec(name=name, version="1", kind="python", source=source, target=target))


def names(chain: tuple[Adapter, ...]) -> list[str]:
    return [a.spec.name for a in chain]


@pytest.fixture
def registry() -> AdapterRegistry:
    """Two departments through a canonical type, plus a long detour and an equal-length rival."""
    return AdapterRegistry(
        [
            rename("samr-to-canonical", "samr.Reg", "canonical.Entity"),
            rename("canonical-to-hrss", "canonical.Entity", "hrss.Employer"),
            rename("canonical-to-tax", "canonical.Entity", "tax.Payer"),
            rename("hrss-to-canonical", "hrss.Employer", "canonical.Entity"),
            rename("samr-to-legacy", "samr.Reg", "legacy.A"),
            rename("legacy-a-to-b", "legacy.A", "legacy.B"),
            rename("legacy-b-to-tax", "legacy.B", "tax.Payer"),
        ]
    )


def test_automatic_chain_goes_through_the_canonical_type(registry: AdapterRegistry) -> None:
    assert names(registry.chain("samr.Reg", "hrss.Employer")) == [
        "samr-to-canonical",
        "canonical-to-hrss",
    ]
    assert names(registry.chain("hrss.Employer", "tax.Payer")) == [
        "hrss-to-canonical",
        "canonical-to-tax",
    ]


def test_automatic_chain_is_the_shortest_path(registry: AdapterRegistry) -> None:
    # samr → legacy.A → legacy.B → tax is three steps; through canonical it is two.
    assert names(registry.chain("samr.Reg", "tax.Payer")) == [
        "samr-to-canonical",
        "canonical-to-tax",
    ]


def test_single_adapter_chain_beats_longer_ones(registry: AdapterRegistry) -> None:
    assert names(registry.chain("legacy.B", "tax.Payer")) == ["legacy-b-to-tax"]


def test_ties_are_broken_by_name_whatever_the_loading_order() -> None:
    adapters = [
        rename("b-second", "x.In", "y.Mid2"),
        rename("b-second-out", "y.Mid2", "z.Out"),
        rename("a-first", "x.In", "y.Mid1"),
        rename("z-last-out", "y.Mid1", "z.Out"),
    ]
    for ordering in (adapters, list(reversed(adapters))):
        chain = AdapterRegistry(ordering).chain("x.In", "z.Out")
        assert names(chain) == ["a-first", "z-last-out"]


def test_same_type_is_the_empty_chain(registry: AdapterRegistry) -> None:
    assert registry.chain("samr.Reg", "samr.Reg") == ()
    assert registry.chain("samr.Reg", "samr.Reg", explicit=[]) == ()


def test_no_chain_names_the_adapters_that_leave_the_source(registry: AdapterRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        registry.chain("samr.Reg", "customs.Declaration")

    message = str(caught.value)
    assert message.startswith("no adapter chain from samr.Reg to customs.Declaration;")
    assert "adapters from samr.Reg: samr-to-canonical (samr.Reg → canonical.Entity)" in message
    assert "samr-to-legacy (samr.Reg → legacy.A)" in message


def test_no_chain_from_a_type_without_adapters(registry: AdapterRegistry) -> None:
    with pytest.raises(ConfigError, match=r"adapters from tax.Payer: none"):
        registry.chain("tax.Payer", "samr.Reg")


def test_explicit_chain_that_connects_is_used_as_given(registry: AdapterRegistry) -> None:
    chain = registry.chain(
        "samr.Reg", "tax.Payer", explicit=["samr-to-legacy", "legacy-a-to-b", "legacy-b-to-tax"]
    )

    assert names(chain) == ["samr-to-legacy", "legacy-a-to-b", "legacy-b-to-tax"]


@pytest.mark.parametrize(
    ("explicit", "where"),
    [
        (
            ["canonical-to-hrss"],
            "breaks at its start: the message is samr.Reg but "
            "'canonical-to-hrss' reads canonical.Entity",
        ),
        (
            ["samr-to-canonical", "legacy-a-to-b"],
            "breaks after step 1: 'samr-to-canonical' "
            "writes canonical.Entity but 'legacy-a-to-b' reads legacy.A",
        ),
        (
            ["samr-to-canonical", "canonical-to-tax"],
            "breaks at its end: 'canonical-to-tax' "
            "writes tax.Payer but the destination needs hrss.Employer",
        ),
        ([], "the empty adapter chain cannot turn samr.Reg into hrss.Employer"),
    ],
)
def test_explicit_chain_that_breaks_says_where(
    registry: AdapterRegistry, explicit: list[str], where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        registry.chain("samr.Reg", "hrss.Employer", explicit=explicit)

    assert where in str(caught.value)


def test_explicit_chain_with_an_unknown_name_suggests_one(registry: AdapterRegistry) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown adapter 'canonical-to-hrs'; did you mean 'canonical-to-hrss'"
    ):
        registry.chain("samr.Reg", "hrss.Employer", ["samr-to-canonical", "canonical-to-hrs"])


def test_resolved_chains_are_cached(registry: AdapterRegistry) -> None:
    first = registry.chain("samr.Reg", "hrss.Employer")

    assert registry.chain("samr.Reg", "hrss.Employer") is first
    assert (
        registry.chain("samr.Reg", "hrss.Employer", ["samr-to-canonical", "canonical-to-hrss"])
        == first
    )


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="adapter 'a' is defined twice"):
        AdapterRegistry([rename("a", "x.A", "x.B"), rename("a", "x.B", "x.C")])


def test_translate_chain_runs_each_step_with_the_envelope_of_its_source(
    registry: AdapterRegistry,
) -> None:
    chain = registry.chain("samr.Reg", "hrss.Employer")
    envelope = Envelope.new(sender="samr", message_type="samr.Reg")

    result = translate_chain(chain, etree.ElementTree(etree.Element("reg")), envelope)

    assert (
        etree.tostring(result)
        == b"<hrss-Employer><canonical-Entity><reg/></canonical-Entity></hrss-Employer>"
    )
    assert [a.seen for a in chain if isinstance(a, Rename)] == [["samr.Reg"], ["canonical.Entity"]]


class Broken(PythonAdapter):
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        raise KeyError("CreditCode")


class ReturnsElement(PythonAdapter):
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return document.getroot()  # type: ignore[return-value]


class RaisesTranslationError(PythonAdapter):
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        raise TranslationError("no tax number in the input")


def _spec(name: str, source: str, target: str) -> AdapterSpec:
    return AdapterSpec(name=name, version="1", kind="python", source=source, target=target)


def test_translate_chain_wraps_any_exception_naming_adapter_and_cause() -> None:
    chain = [rename("first", "a.A", "a.B"), Broken(_spec("broken-step", "a.B", "a.C"))]
    envelope = Envelope.new(sender="s", message_type="a.A")

    with pytest.raises(TranslationError) as caught:
        translate_chain(chain, etree.ElementTree(etree.Element("a")), envelope)

    message = str(caught.value)
    assert "adapter 'broken-step' (step 2 of 2, a.B → a.C) failed" in message
    assert "KeyError: 'CreditCode'" in message
    assert isinstance(caught.value.__cause__, KeyError)


def test_translate_chain_names_the_adapter_of_a_bare_translation_error() -> None:
    chain = [RaisesTranslationError(_spec("tax-step", "a.A", "a.B"))]

    with pytest.raises(TranslationError, match=r"adapter 'tax-step' .* no tax number"):
        translate_chain(
            chain,
            etree.ElementTree(etree.Element("a")),
            Envelope.new(sender="s", message_type="a.A"),
        )


def test_translate_chain_refuses_a_result_that_is_not_a_tree() -> None:
    chain = [ReturnsElement(_spec("element-step", "a.A", "a.B"))]

    with pytest.raises(TranslationError, match="returned _Element, not an lxml ElementTree"):
        translate_chain(
            chain,
            etree.ElementTree(etree.Element("a")),
            Envelope.new(sender="s", message_type="a.A"),
        )


def test_empty_chain_returns_the_document_unchanged() -> None:
    document = etree.ElementTree(etree.Element("a"))

    assert translate_chain((), document, Envelope.new(sender="s", message_type="a.A")) is document


def test_shared_prefixes_are_translated_once_with_a_memo() -> None:
    to_canonical = rename("a-to-canonical", "a.In", "canonical.X")
    to_b, to_c = (
        rename("canonical-to-b", "canonical.X", "b.Out"),
        rename("canonical-to-c", "canonical.X", "c.Out"),
    )
    document = etree.ElementTree(etree.Element("in"))
    envelope = Envelope.new(sender="s", message_type="a.In")
    memo: dict[tuple[str, ...], etree._ElementTree] = {}
    b = translate_chain([to_canonical, to_b], document, envelope, memo)
    c = translate_chain([to_canonical, to_c], document, envelope, memo)
    canonical = translate_chain([to_canonical], document, envelope, memo)
    assert len(to_canonical.seen) == 1 and len(to_b.seen) == len(to_c.seen) == 1
    assert b.getroot().tag == "b-Out" and c.getroot().tag == "c-Out"
    assert canonical.getroot().tag == "canonical-X"
