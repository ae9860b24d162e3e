"""Microseconds per document of one translation written as XSLT and as a declarative mapping.

The translation is the repository's ``samr-to-canonical`` (enterprise registration →
legal-entity record): the stylesheet in ``adapters/samr-to-canonical/`` and the same
translation as a mapping (``tests/unit/adapters/fixtures/samr-to-canonical-mapping/``, which
passes the stylesheet's golden cases). Each adapter translates the source type's valid samples
in turn, in alternating rounds. The figure is the process's CPU time per document (not wall
time, so other processes on a shared machine matter less), the best of ``--repeats`` rounds;
the ratio is mapping ÷ XSLT (below 1: the mapping is faster).

    .venv/bin/python -m bench.adapter_kinds [--documents 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lxml import etree

from exchange import xml
from exchange.adapters.base import Adapter
from exchange.adapters.manifest import read_manifest
from exchange.adapters.mapping import MappingAdapter
from exchange.adapters.xslt import XsltAdapter
from exchange.envelope import Envelope

ROOT = Path(__file__).resolve().parent.parent
XSLT_FOLDER = ROOT / "adapters" / "samr-to-canonical"
MAPPING_FILE = ROOT / "tests/unit/adapters/fixtures/samr-to-canonical-mapping/mapping.yaml"
SAMPLES = ROOT / "schemas/samr.EnterpriseRegistration/1.0/samples/valid"


def _adapters() -> tuple[Adapter, Adapter]:
    manifest = read_manifest(XSLT_FOLDER / "adapter.yaml")
    assert manifest.stylesheet is not None
    return XsltAdapter(manifest.spec, manifest.stylesheet), MappingAdapter(
        manifest.spec, MAPPING_FILE
    )


def _round(adapter: Adapter, documents: list[etree._ElementTree], count: int) -> float:
    envelope = Envelope.new(sender="bench", message_type=adapter.spec.source, message_id="b")
    start = time.process_time()
    for i in range(count):
        adapter.translate(documents[i % len(documents)], envelope)
    return (time.process_time() - start) / count * 1e6


def _best(
    adapters: tuple[Adapter, Adapter], documents: list[etree._ElementTree], count: int, repeats: int
) -> tuple[float, float]:
    """Best µs/document of each; rounds alternate, so a busy moment slows both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for index, adapter in enumerate(adapters):
            best[index] = min(best[index], _round(adapter, documents, count))
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000, help="translations per round")
    parser.add_argument("--repeats", type=int, default=7, help="rounds; the best is kept")
    args = parser.parse_args()
    documents = [xml.parse(p.read_bytes()) for p in sorted(SAMPLES.glob("*.xml"))]
    xslt, mapping = _adapters()
    # Both must produce the same document before their speed means anything.
    for document in documents:
        envelope = Envelope.new(sender="bench", message_type=xslt.spec.source, message_id="c")
        a = etree.canonicalize(xslt.translate(document, envelope), strip_text=True)
        b = etree.canonicalize(mapping.translate(document, envelope), strip_text=True)
        if a != b:
            raise SystemExit("the mapping and the stylesheet disagree; run the golden tests")
    xslt_us, mapping_us = _best((xslt, mapping), documents, args.documents, args.repeats)
    print(f"samr-to-canonical, {len(documents)} samples, best of {args.repeats} x {args.documents}")
    print(f"  xslt     {xslt_us:8.1f} µs/document")
    print(f"  mapping  {mapping_us:8.1f} µs/document")
    print(f"  ratio    {mapping_us / xslt_us:8.2f} (mapping / xslt)")


if __name__ == "__main__":
    main()
