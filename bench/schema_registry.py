"""What many registered message types cost a developer: one ``schemas validate``, a reload.

Builds a hub home with ``--types`` large synthetic types (each folder its own variant of a
common schema of 400 simple and 600 complex types, as big standards such as UBL are), then
measures, each in a fresh process:

- ``exchange schemas validate doc.xml``: wall time and peak memory (it compiles only the
  type the document needs);
- ``SchemaRegistry.load`` (manifests only), ``compile_all`` from cold, and a second
  load + ``compile_all`` of the unchanged folders (what a reload costs: the cache answers).

    .venv/bin/python -m bench.schema_registry --types 80
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_IN_PROCESS = """
import sys, time
from pathlib import Path
from exchange.schemas import SchemaRegistry
schemas = Path(sys.argv[1])
t = time.perf_counter(); registry = SchemaRegistry.load(schemas); load = time.perf_counter() - t
# (a tree from before lazy compiling compiles in load and has no compile_all)
t = time.perf_counter(); getattr(registry, "compile_all", lambda: None)()
cold = time.perf_counter() - t
t = time.perf_counter(); again = SchemaRegistry.load(schemas)
getattr(again, "compile_all", lambda: None)(); warm = time.perf_counter() - t
print(f"{load:.3f} {cold:.3f} {warm:.3f}")
"""


def common_schema(variant: int) -> str:
    simple = "".join(
        f'<xs:simpleType name="Code{i}"><xs:restriction base="xs:string">'
        f'<xs:pattern value="[A-Z]{{2}}[0-9]{{{i % 9 + 1}}}"/>'
        f'<xs:maxLength value="{i + 20 + (variant if i == 0 else 0)}"/>'
        "</xs:restriction></xs:simpleType>"
        for i in range(400)
    )
    complex_ = "".join(
        f'<xs:complexType name="Part{i}Type"><xs:sequence>'
        + "".join(
            f'<xs:element name="F{j}" type="c:Code{(i * 7 + j) % 400}" minOccurs="0"/>'
            for j in range(12)
        )
        + (f'<xs:element name="Next" type="c:Part{i + 1}Type" minOccurs="0"/>' if i < 599 else "")
        + "</xs:sequence></xs:complexType>"
        for i in range(600)
    )
    return (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="urn:bench:common" '
        'targetNamespace="urn:bench:common" elementFormDefault="qualified">'
        f"{simple}{complex_}</xs:schema>"
    )


def build_home(home: Path, types: int) -> Path:
    for folder in ("routes", "adapters"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    for n in range(types):
        namespace = f"urn:bench:doc{n}:1"
        folder = home / "schemas" / f"bench.Doc{n}" / "1.0"
        (folder / "common").mkdir(parents=True)
        (folder / "common" / "common.xsd").write_text(common_schema(n))
        parts = "".join(
            f'<xs:element name="P{k}" type="c:Part{k * 10}Type" minOccurs="0"/>' for k in range(60)
        )
        (folder / "doc.xsd").write_text(
            '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="urn:bench:common" '
            f'targetNamespace="{namespace}" elementFormDefault="qualified">'
            '<xs:import namespace="urn:bench:common" schemaLocation="common/common.xsd"/>'
            f'<xs:element name="Doc{n}"><xs:complexType><xs:sequence>{parts}'
            "</xs:sequence></xs:complexType></xs:element></xs:schema>"
        )
        (folder / "manifest.yaml").write_text(
            f'name: bench.Doc{n}\nversion: "1.0"\nnamespace: {namespace}\nroot: Doc{n}\n'
            "xsd: doc.xsd\n"
        )
    document = home / "doc.xml"
    document.write_text('<d:Doc7 xmlns:d="urn:bench:doc7:1"><d:P1/></d:Doc7>')
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--types", type=int, default=80, help="message types registered")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-schemas-") as tmp:
        home = Path(tmp)
        document = build_home(home, max(args.types, 8))
        env = {**os.environ, "EXCHANGE_HOME": str(home)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "exchange", "schemas", "validate", str(document)],
            env=env,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        timings = subprocess.run(
            [sys.executable, "-c", _IN_PROCESS, str(home / "schemas")],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    load, cold, warm = (float(t) for t in timings)
    print(f"  types registered            {max(args.types, 8)}")
    print(f"  schemas validate (one file) {wall:.2f} s wall, {peak_mb:.0f} MB peak")
    print(f"  load (manifests only)       {load:.3f} s")
    print(f"  compile_all, cold           {cold:.2f} s")
    print(f"  load + compile_all, again   {warm:.3f} s (what a reload of unchanged schemas costs)")


if __name__ == "__main__":
    main()
