"""The adapter contract, as tests every adapter kind must pass.

What every adapter, of every kind, promises the engine:

- its output is an element tree (``etree._ElementTree`` with one root element);
- it leaves its input untouched (canonical bytes before and after are equal), since
  the engine shares one parsed document between the chains of a fan-out;
- it fails with ``TranslationError`` (raised by the adapter or, for any other
  exception, by the engine's chain runner, naming the adapter), never with anything else;
- its spec is consistent: a valid name, a known kind, string version and types, and a
  time limit that is None or positive, as read from ``adapter.yaml``.

A test module subclasses ``AdapterSuite`` (name starting with ``Test``) and provides
``kind`` and ``folder(ok)``: the files of an adapter folder (``adapter.yaml`` included)
that translates ``INPUT`` when ``ok`` and fails on it otherwise. The adapter is built
the way a hub builds it (``AdapterRegistry.load``, through the kind).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from exchange.adapters import Adapter, AdapterRegistry, translate_chain
from exchange.adapters.base import NAME_PATTERN
from exchange.adapters.kinds import default_kinds
from exchange.envelope import Envelope
from exchange.errors import TranslationError

SOURCE_NS = "urn:conformance:in"
INPUT = (
    f'<In xmlns="{SOURCE_NS}"><Name>acme trading</Name><Code>X1</Code>'
    "<!-- a comment -->\n  <Note>kept</Note></In>"
).encode()


def manifest(name: str, kind: str, **extra: str) -> str:
    lines = [
        f"name: {name}",
        'version: "1.0"',
        f"kind: {kind}",
        "source: conformance.In",
        "target: conformance.Out",
        "time_limit: 5",
        *(f"{key}: {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


class AdapterSuite:
    kind: str = ""

    def folder(self, ok: bool) -> dict[str, str]:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _home(self, tmp_path: Path) -> None:
        self.home = tmp_path

    def build(self, ok: bool = True) -> Adapter:
        adapters = self.home / ("good" if ok else "failing")
        folder = adapters / f"conformance-{self.kind}"
        folder.mkdir(parents=True)
        for name, text in self.folder(ok).items():
            (folder / name).write_text(text, encoding="utf-8")
        registry = AdapterRegistry.load(adapters, entry_points=False)
        (adapter,) = list(registry)
        return adapter

    def document(self) -> etree._ElementTree:
        return etree.fromstring(INPUT).getroottree()

    def envelope(self, adapter: Adapter) -> Envelope:
        return Envelope.new(sender="conformance", message_type=adapter.spec.source)

    def test_output_is_an_element_tree(self) -> None:
        adapter = self.build()
        result = adapter.translate(self.document(), self.envelope(adapter))
        assert isinstance(result, etree._ElementTree)
        root = result.getroot()
        assert root is not None and isinstance(root.tag, str)
        etree.fromstring(etree.tostring(result))  # serialises to well-formed XML

    def test_input_is_untouched(self) -> None:
        adapter = self.build()
        document = self.document()
        before = etree.tostring(document, method="c14n")
        adapter.translate(document, self.envelope(adapter))
        adapter.translate(document, self.envelope(adapter))
        assert etree.tostring(document, method="c14n") == before

    def test_failures_are_translation_errors(self) -> None:
        adapter = self.build(ok=False)
        with pytest.raises(TranslationError) as caught:
            translate_chain([adapter], self.document(), self.envelope(adapter))
        assert f"adapter '{adapter.spec.name}'" in caught.value.detail
        assert caught.value.retriable is False

    def test_spec_fields_are_consistent(self) -> None:
        adapter = self.build()
        spec = adapter.spec
        assert NAME_PATTERN.match(spec.name) and spec.name == f"conformance-{self.kind}"
        assert spec.kind == self.kind and spec.kind in default_kinds()
        assert (spec.source, spec.target, spec.version) == (
            "conformance.In",
            "conformance.Out",
            "1.0",
        )
        assert spec.time_limit == 5.0
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in spec.options.items())
        assert spec.name in spec.describe() and spec.name in repr(adapter)
