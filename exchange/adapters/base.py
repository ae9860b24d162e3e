"""What an adapter is: a declared spec and one method, ``translate``.

An adapter turns a document of one message type (``spec.source``) into a
document of another (``spec.target``). The spec is data the hub reads without
running the adapter (registry, chain resolution, dashboard, docs); the engine
owns everything around the call (chaining, error wrapping, validating the
output against the target's schema), so an adapter only translates.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from lxml import etree

from exchange.envelope import Envelope

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class AdapterSpec:
    """Name, version, kind and the two message types an adapter connects.

    ``options`` are strings given in ``adapter.yaml``: XSLT string parameters
    for the xslt kind, constructor keyword arguments for the python kind.
    ``time_limit`` is the most seconds one translation may take (None: the
    hub's default, ``EXCHANGE_ADAPTER_TIME_LIMIT_S``).
    """

    name: str
    version: str
    kind: str
    source: str
    target: str
    title: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    time_limit: float | None = None

    def describe(self) -> str:
        """``name (source → target)``: how messages refer to an adapter."""
        return f"{self.name} ({self.source} → {self.target})"


class Adapter(abc.ABC):
    """Translates a document of ``spec.source`` into one of ``spec.target``."""

    spec: AdapterSpec

    def __init__(self, spec: AdapterSpec) -> None:
        self.spec = spec

    @abc.abstractmethod
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        """Return the translated document; raise TranslationError if the input cannot be."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.describe()} v{self.spec.version}>"


class PythonAdapter(Adapter):
    """Base of adapters written in Python; a subclass implements only ``translate``.

    An adapter in a hub folder gets its spec from ``adapter.yaml`` and its
    options as constructor keyword arguments: a subclass that takes options
    defines ``__init__(self, spec, *, my_option: str = "...")`` and calls
    ``super().__init__(spec)``.

    An adapter shipped in another package (entry point group
    ``exchange.adapters``) has no ``adapter.yaml``: it declares its spec in the
    class attributes below, which the loader reads before constructing it.
    When a folder adapter's class declares them too, they must agree with the
    manifest, so that the code and its description cannot drift apart.
    """

    name: ClassVar[str | None] = None
    version: ClassVar[str | None] = None
    source: ClassVar[str | None] = None
    target: ClassVar[str | None] = None
    title: ClassVar[str | None] = None

    def __init__(self, spec: AdapterSpec) -> None:
        super().__init__(spec)
