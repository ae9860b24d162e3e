"""The demo content in schemas/, adapters/ and routes/ is valid, consistent and tells its story.

Market regulation publishes an enterprise registration once; the hub fans it out to the tax
bureau, to social security (only when the enterprise declares employees) and to the
legal-entity base registry. These tests check the content itself, directly with lxml and
xmlschema, so that a broken sample, stylesheet or route is caught here rather than in the
engines that load them:

- every XSD compiles offline (lxml, network off; xmlschema strict, sandboxed to its folder);
- every valid sample passes the XSD and the manifest's business rules, every invalid sample
  fails for the reason its leading comment states (``expect: xsd`` or ``expect: rule <id>``);
- every adapter turns every valid sample of its source type (and, for adapters from the
  canonical model, every canonical record made from a market regulation sample) into a
  document that passes the target's XSD and business rules;
- the routing table parses into the routing models, refers only to things that exist, and its
  content-based rule sends registrations with employees, and only those, to social security;
- the tax bureau is a SOAP endpoint whose committed WSDL is the one the demo service serves,
  and whose operation takes the tax bureau's registration as its body element.

The business rules are re-implemented here from their standards (GB 32100-2015, GB 11643-1999,
GB/T 2260) so that the samples are checked independently of the hub's own rule code.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import xmlschema
import yaml
from lxml import etree

from exchange import demo_soap
from exchange.adapters import AdapterSpec, PythonAdapter
from exchange.envelope import Envelope
from exchange.routing.model import Endpoint, RestEndpoint, Route, SenderPolicy, SoapEndpoint

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
ADAPTERS = ROOT / "adapters"
ROUTES = ROOT / "routes"

SAMR = "samr.EnterpriseRegistration"
CANONICAL = "canonical.LegalEntity"
TAX = "tax.TaxpayerRegistration"
HRSS = "hrss.EmployerRegistration"
SAMR_NS = "urn:cn:gov:samr:enterprise-registration:1"
CANONICAL_NS = "urn:cn:gov:exchange:canonical:legal-entity:1"
TAX_NS = "urn:cn:gov:chinatax:taxpayer-registration:1"
HRSS_NS = "urn:cn:gov:mohrss:employer-registration:1"

MANIFEST_KEYS = {
    "name",
    "version",
    "title",
    "description",
    "owner",
    "namespace",
    "root",
    "xsd",
    "namespaces",
    "rules",
}
ADAPTER_KEYS = {"name", "version", "kind", "source", "target", "title", "options"}
_EXPECT = re.compile(r"^\s*expect:\s*(xsd|rule\s+([a-z-]+))\b")
XSL_NS = "http://www.w3.org/1999/XSL/Transform"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        no_network=True, resolve_entities=False, load_dtd=False, dtd_validation=False
    )


def _parse(path: Path) -> etree._ElementTree:
    data = path.read_bytes()
    assert b"<!DOCTYPE" not in data and b"<!ENTITY" not in data, f"{path} has a DTD"
    return etree.fromstring(data, _parser(), base_url=str(path)).getroottree()


# --- business rules, from the standards -------------------------------------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PROVINCES = {
    *(str(n) for n in range(11, 16)),
    *(str(n) for n in range(21, 24)),
    *(str(n) for n in range(31, 38)),
    *(str(n) for n in range(41, 47)),
    *(str(n) for n in range(50, 55)),
    *(str(n) for n in range(61, 66)),
    "71",
    "81",
    "82",
}


def uscc_ok(code: str) -> bool:
    """GB 32100-2015: check = 31 - (Σ value × weight mod 31), 31 written as 0."""
    if len(code) != 18 or any(c not in USCC_CHARSET for c in code):
        return False
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    return code[17] == USCC_CHARSET[(31 - total % 31) % 31]


def resident_id_ok(number: str) -> bool:
    """GB 11643-1999, ISO 7064 MOD 11-2: check index (12 - Σ mod 11) mod 11, 10 written as X."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number) or number[:2] not in PROVINCES:
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return number[17] == "0123456789X"[(12 - total % 11) % 11]


def division_code_ok(code: str) -> bool:
    """GB/T 2260: six digits whose first two name a province-level division."""
    return bool(re.fullmatch(r"[0-9]{6}", code)) and code[:2] in PROVINCES


RULES: dict[str, Callable[[str], bool]] = {
    "uscc": uscc_ok,
    "resident-id": resident_id_ok,
    "division-code": division_code_ok,
}


def test_rule_checks_agree_with_published_examples() -> None:
    assert uscc_ok("91350100M000100Y43")
    assert not uscc_ok("91350100M000100Y44")
    assert not uscc_ok("91350100M000100Y4I")
    assert resident_id_ok("11010519491231002X")
    assert not resident_id_ok("110105194912310021")
    assert division_code_ok("450100") and division_code_ok("610113")
    assert not division_code_ok("990100") and not division_code_ok("29010")


# --- schema folders ---------------------------------------------------------------------------


class SchemaFolder:
    def __init__(self, manifest_path: Path) -> None:
        self.folder = manifest_path.parent
        self.manifest: dict[str, Any] = yaml.safe_load(manifest_path.read_text("utf-8"))
        self.name: str = self.manifest["name"]
        self.xsd = self.folder / self.manifest["xsd"]
        self.namespaces: dict[str, str] = self.manifest["namespaces"]

    @property
    def valid(self) -> list[Path]:
        return sorted((self.folder / "samples" / "valid").glob("*.xml"))

    @property
    def invalid(self) -> list[Path]:
        return sorted((self.folder / "samples" / "invalid").glob("*.xml"))

    def rule_failures(self, tree: etree._ElementTree) -> list[tuple[str, str]]:
        """(rule id, value) of every value that a manifest rule rejects."""
        failures = []
        for entry in self.manifest["rules"]:
            for node in tree.xpath(entry["path"], namespaces=self.namespaces):
                value = (node.text or "").strip()
                if not RULES[entry["rule"]](value):
                    failures.append((entry["rule"], value))
        return failures


FOLDERS = {f.name: f for f in map(SchemaFolder, sorted(SCHEMAS.glob("*/*/manifest.yaml")))}


@cache
def lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(_parse(FOLDERS[name].xsd))


def check_valid(name: str, tree: etree._ElementTree) -> None:
    schema = lxml_schema(name)
    assert schema.validate(tree), f"{name}: {schema.error_log}"
    assert FOLDERS[name].rule_failures(tree) == []


def test_the_four_demo_types_are_there() -> None:
    assert set(FOLDERS) == {SAMR, CANONICAL, TAX, HRSS}
    for name, folder in FOLDERS.items():
        assert set(folder.manifest) == MANIFEST_KEYS, name
        assert folder.folder.relative_to(SCHEMAS) == Path(name, folder.manifest["version"])
        assert isinstance(folder.manifest["version"], str)
        assert folder.manifest["rules"], f"{name} declares no business rules"
        assert {r["rule"] for r in folder.manifest["rules"]} <= set(RULES)
    assert len(FOLDERS[SAMR].valid) >= 3 and len(FOLDERS[SAMR].invalid) >= 4
    assert all(folder.valid for folder in FOLDERS.values())


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_xsd_compiles_offline_and_declares_the_root(name: str) -> None:
    folder = FOLDERS[name]
    root = _parse(folder.xsd).getroot()
    assert root.get("elementFormDefault") == "qualified"
    assert root.get("targetNamespace") == folder.manifest["namespace"]
    for xsd in folder.folder.glob("*.xsd"):
        for ref in _parse(xsd).xpath("//@schemaLocation"):
            assert "/" not in ref and ":" not in ref, f"{xsd}: {ref} is not a sibling file"
            assert (folder.folder / ref).is_file()
    lxml_schema(name)  # raises XMLSchemaParseError if it does not compile
    declared = root.xpath("xs:element/@name", namespaces={"xs": "http://www.w3.org/2001/XMLSchema"})
    assert folder.manifest["root"] in declared


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_xsd_passes_xmlschema_strict_within_its_folder(name: str) -> None:
    folder = FOLDERS[name]
    # "sandbox" lets xmlschema read only files under the schema's own folder.
    schema = xmlschema.XMLSchema10(str(folder.xsd), validation="strict", allow="sandbox")
    assert f"{{{folder.manifest['namespace']}}}{folder.manifest['root']}" in schema.maps.elements
    for sample in folder.valid:
        schema.validate(str(sample))


def test_the_samr_schema_imports_the_common_types_from_its_folder() -> None:
    folder = FOLDERS[SAMR]
    imports = _parse(folder.xsd).xpath(
        "//xs:import", namespaces={"xs": "http://www.w3.org/2001/XMLSchema"}
    )
    assert [i.get("schemaLocation") for i in imports] == ["common-types.xsd"]
    sample = _parse(folder.valid[0]).getroot()
    assert set(sample.nsmap.values()) == {SAMR_NS, imports[0].get("namespace")}


VALID = [(name, path) for name, f in sorted(FOLDERS.items()) for path in f.valid]
INVALID = [(name, path) for name, f in sorted(FOLDERS.items()) for path in f.invalid]


@pytest.mark.parametrize(("name", "sample"), VALID, ids=[p.name for _, p in VALID])
def test_valid_sample_passes_xsd_and_rules(name: str, sample: Path) -> None:
    check_valid(name, _parse(sample))


@pytest.mark.parametrize(("name", "sample"), INVALID, ids=[p.name for _, p in INVALID])
def test_invalid_sample_fails_for_its_stated_reason(name: str, sample: Path) -> None:
    tree = _parse(sample)
    comment = tree.getroot().getprevious()
    assert isinstance(comment, etree._Comment), f"{sample} lacks its '<!-- expect: -->' comment"
    expect = _EXPECT.match(comment.text or "")
    assert expect, f"{sample}: comment must start with 'expect: xsd' or 'expect: rule <id>'"
    xsd_valid = lxml_schema(name).validate(tree)
    if expect.group(1) == "xsd":
        assert not xsd_valid
        strict = xmlschema.XMLSchema10(str(FOLDERS[name].xsd), allow="sandbox")
        assert not strict.is_valid(str(sample))
    else:
        assert xsd_valid, f"{sample} should pass the XSD: {lxml_schema(name).error_log}"
        failed = {rule for rule, _ in FOLDERS[name].rule_failures(tree)}
        assert failed == {expect.group(2)}


def _employees(path: Path) -> int:
    return int(_parse(path).findtext(f"{{{SAMR_NS}}}EmployeeCount") or "-1")


def test_samr_samples_cover_both_sides_of_the_employee_rule() -> None:
    counts = [_employees(p) for p in FOLDERS[SAMR].valid]
    assert 0 in counts and any(c > 0 for c in counts)


# --- adapters ---------------------------------------------------------------------------------


def _adapter(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ADAPTERS / name / "adapter.yaml").read_text("utf-8"))
    return data


ADAPTER_NAMES = sorted(p.parent.name for p in ADAPTERS.glob("*/adapter.yaml"))


def test_the_three_demo_adapters_are_there() -> None:
    assert ADAPTER_NAMES == ["canonical-to-hrss", "canonical-to-tax", "samr-to-canonical"]
    for name in ADAPTER_NAMES:
        spec = _adapter(name)
        assert spec["name"] == name
        assert set(spec) - ADAPTER_KEYS == {"stylesheet" if spec["kind"] == "xslt" else "class"}
        assert spec["source"] in FOLDERS and spec["target"] in FOLDERS
        assert all(isinstance(v, str) for v in (spec.get("options") or {}).values())


@cache
def _stylesheet(name: str) -> etree.XSLT:
    path = ADAPTERS / name / _adapter(name)["stylesheet"]
    tree = _parse(path)
    for element in tree.iter(etree.Element):
        qname = etree.QName(element)
        assert not (qname.namespace == XSL_NS and qname.localname in {"import", "include"})
        assert element.get("extension-element-prefixes") is None
    assert "document(" not in path.read_text("utf-8")
    declared = set(tree.xpath("/xsl:stylesheet/xsl:param/@name", namespaces={"xsl": XSL_NS}))
    assert set(_adapter(name).get("options") or {}) <= declared
    return etree.XSLT(tree, access_control=etree.XSLTAccessControl.DENY_ALL)


def run_xslt(name: str, document: etree._ElementTree, **options: str) -> etree._ElementTree:
    params = {**(_adapter(name).get("options") or {}), **options}
    return _stylesheet(name)(document, **{k: etree.XSLT.strparam(v) for k, v in params.items()})


def _load_python_adapter() -> ModuleType:
    path = ADAPTERS / "canonical-to-hrss" / "adapter.py"
    spec = importlib.util.spec_from_file_location("demo_canonical_to_hrss", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HRSS_MODULE = _load_python_adapter()


def canonical_records() -> Iterator[tuple[str, etree._ElementTree]]:
    """Canonical samples, and the canonical record made from each market regulation sample."""
    for path in FOLDERS[CANONICAL].valid:
        yield path.name, _parse(path)
    for path in FOLDERS[SAMR].valid:
        yield f"from {path.name}", run_xslt("samr-to-canonical", _parse(path))


@pytest.mark.parametrize("sample", FOLDERS[SAMR].valid, ids=lambda p: p.name)
def test_samr_to_canonical_output_is_a_valid_record(sample: Path) -> None:
    source = _parse(sample)
    record = run_xslt("samr-to-canonical", source)
    check_valid(CANONICAL, record)
    ns = {"le": CANONICAL_NS, "samr": SAMR_NS}
    assert record.xpath("string(/le:LegalEntity/le:CreditCode)", namespaces=ns) == source.xpath(
        "string(/samr:EnterpriseRegistration/samr:CreditCode)", namespaces=ns
    )
    percents = source.xpath("//samr:ShareRatio/text()", namespaces=ns)
    fractions = record.xpath("//le:Ratio/text()", namespaces=ns)
    assert [float(f) * 100 for f in fractions] == pytest.approx([float(p) for p in percents])


def test_foreign_shareholders_make_a_foreign_invested_record() -> None:
    flags = {
        p.name: run_xslt("samr-to-canonical", _parse(p)).findtext(
            f"{{{CANONICAL_NS}}}ForeignInvested"
        )
        for p in FOLDERS[SAMR].valid
    }
    assert flags.pop("guangzhou-nansha-yuanfan-supply-chain.xml") == "true"
    assert set(flags.values()) == {"false"}


CANONICAL_RECORDS = list(canonical_records())
CANONICAL_IDS = [label for label, _ in CANONICAL_RECORDS]


@pytest.mark.parametrize(("label", "record"), CANONICAL_RECORDS, ids=CANONICAL_IDS)
def test_canonical_to_tax_output_is_a_valid_taxpayer_registration(
    label: str, record: etree._ElementTree
) -> None:
    for taxpayer_type in ("small-scale", "general"):
        result = run_xslt("canonical-to-tax", record, taxpayer_type=taxpayer_type)
        check_valid(TAX, result)
        assert result.findtext(f"{{{TAX_NS}}}TaxpayerType") == taxpayer_type
    assert result.findtext(f"{{{TAX_NS}}}TaxpayerIdentificationNumber") == record.findtext(
        f"{{{CANONICAL_NS}}}CreditCode"
    )


@pytest.mark.parametrize(("label", "record"), CANONICAL_RECORDS, ids=CANONICAL_IDS)
def test_canonical_to_hrss_output_is_a_valid_employer_registration(
    label: str, record: etree._ElementTree
) -> None:
    result = HRSS_MODULE.to_employer_registration(record)
    check_valid(HRSS, result)
    assert result.findtext(f"{{{HRSS_NS}}}UnitCode") == record.findtext(
        f"{{{CANONICAL_NS}}}CreditCode"
    )
    assert result.findtext(f"{{{HRSS_NS}}}InsuredEmployeeEstimate") == record.findtext(
        f"{{{CANONICAL_NS}}}EmployeeCount"
    )


def test_the_python_adapter_class_translates_with_its_options() -> None:
    spec_data = _adapter("canonical-to-hrss")
    module_name, _, class_name = spec_data["class"].partition(":")
    assert module_name == "adapter"
    cls = getattr(HRSS_MODULE, class_name)
    assert issubclass(cls, PythonAdapter)
    spec = AdapterSpec(
        name=spec_data["name"],
        version=spec_data["version"],
        kind=spec_data["kind"],
        source=spec_data["source"],
        target=spec_data["target"],
        title=spec_data["title"],
        options=spec_data["options"],
    )
    envelope = Envelope.new(sender="legal-entity-registry", message_type=CANONICAL)
    record = _parse(FOLDERS[CANONICAL].valid[0])
    result = cls(spec, **spec.options).translate(record, envelope)
    check_valid(HRSS, result)
    chosen = [t.strip() for t in spec.options["insurance_types"].split(",")]
    assert result.xpath("//h:InsuranceType/text()", namespaces={"h": HRSS_NS}) == chosen
    only_two = cls(spec, insurance_types="pension, work-injury").translate(record, envelope)
    assert only_two.xpath("//h:InsuranceType/text()", namespaces={"h": HRSS_NS}) == [
        "pension",
        "work-injury",
    ]
    with pytest.raises(ValueError, match="housing-fund"):
        cls(spec, insurance_types="pension,housing-fund")


def test_the_python_adapter_refuses_a_document_of_another_type() -> None:
    from exchange.errors import TranslationError

    with pytest.raises(TranslationError, match="LegalEntity"):
        HRSS_MODULE.to_employer_registration(_parse(FOLDERS[SAMR].valid[0]))


# --- routes -----------------------------------------------------------------------------------


def _sections() -> dict[str, list[dict[str, Any]]]:
    sections: dict[str, list[dict[str, Any]]] = {"endpoints": [], "routes": [], "senders": []}
    for path in sorted(ROUTES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        assert set(data) <= set(sections), path
        for key, items in data.items():
            sections[key].extend(items)
    return sections


SECTIONS = _sections()
ENDPOINTS = {e.name: e for e in map(Endpoint.model_validate, SECTIONS["endpoints"])}
ROUTE_LIST = [Route.model_validate(r) for r in SECTIONS["routes"]]
SENDERS = {s.code: s for s in map(SenderPolicy.model_validate, SECTIONS["senders"])}


def test_route_files_parse_into_the_models_and_refer_to_what_exists() -> None:
    assert sorted(p.name for p in ROUTES.glob("*.yaml")) == [
        "endpoints.yaml",
        "routes.yaml",
        "senders.yaml",
    ]
    assert len(ENDPOINTS) == len(SECTIONS["endpoints"]) == 3
    assert {n: e.format for n, e in ENDPOINTS.items()} == {
        "tax-bureau": TAX,
        "social-security": HRSS,
        "legal-entity-registry": CANONICAL,
    }
    for name, endpoint in ENDPOINTS.items():
        if isinstance(endpoint, RestEndpoint):
            assert endpoint.url == f"http://127.0.0.1:8001/demo-receivers/{name}"
    tax = ENDPOINTS["tax-bureau"]
    assert isinstance(tax, SoapEndpoint) and tax.address is None
    assert (tax.service, tax.port, tax.operation) == ("TaxBureau", "TaxBureau", "RegisterTaxpayer")
    assert (ROUTES / tax.wsdl).is_file()
    assert {n for n, e in ENDPOINTS.items() if isinstance(e, RestEndpoint)} == {
        "social-security",
        "legal-entity-registry",
    }
    assert len({(e.timeout, e.retry) for e in ENDPOINTS.values()}) == 3
    assert len({r.name for r in ROUTE_LIST}) == len(ROUTE_LIST) == 2
    assert SENDERS["samr-reg"].may_send == [SAMR]
    for route in ROUTE_LIST:
        assert route.match.message_type in FOLDERS
        assert set(route.match.senders or []) <= set(SENDERS)
        for destination in route.destinations:
            assert destination.endpoint in ENDPOINTS
            assert set(destination.adapters or []) <= set(ADAPTER_NAMES)


def _chain(source: str, target: str) -> list[str]:
    """Shortest adapter chain from one type to another (breadth first)."""
    paths: dict[str, list[str]] = {source: []}
    frontier = [source]
    while frontier:
        following = []
        for current in frontier:
            for name in ADAPTER_NAMES:
                spec = _adapter(name)
                if spec["source"] == current and spec["target"] not in paths:
                    paths[spec["target"]] = [*paths[current], name]
                    following.append(spec["target"])
        frontier = following
    assert target in paths, f"no adapter chain from {source} to {target}"
    return paths[target]


def test_every_destination_gets_its_format_through_a_chain() -> None:
    for route in ROUTE_LIST:
        assert route.match.message_type is not None
        for destination in route.destinations:
            target = ENDPOINTS[destination.endpoint].format
            if destination.adapters is None:
                chain = _chain(route.match.message_type, target)
            else:
                chain = destination.adapters
            current = route.match.message_type
            for name in chain:
                assert _adapter(name)["source"] == current
                current = _adapter(name)["target"]
            assert current == target
    tax_route = next(
        r for r in ROUTE_LIST if r.name == "enterprise-registration-to-tax-and-registry"
    )
    assert _chain(SAMR, TAX) == ["samr-to-canonical", "canonical-to-tax"]
    assert [d.adapters for d in tax_route.destinations] == [None, ["samr-to-canonical"]]


def test_the_content_based_route_sends_only_registrations_with_employees() -> None:
    route = next(r for r in ROUTE_LIST if r.match.xpath)
    assert [d.endpoint for d in route.destinations] == ["social-security"]
    predicates = [etree.XPath(x, namespaces=route.namespaces) for x in route.match.xpath]
    outcomes = {
        path.name: all(bool(p(_parse(path))) for p in predicates) for path in FOLDERS[SAMR].valid
    }
    for path in FOLDERS[SAMR].valid:
        assert outcomes[path.name] == (_employees(path) > 0), path.name
    assert True in outcomes.values() and False in outcomes.values()


# --- the tax bureau's SOAP service ------------------------------------------------------------


def test_the_committed_wsdl_is_the_demo_services_own() -> None:
    committed = (ROUTES / "wsdl" / "tax-bureau.wsdl").read_bytes()
    assert committed == demo_soap.wsdl(), "run: python -m exchange.demo_soap > routes/wsdl/..."


def test_the_wsdl_operation_takes_the_tax_registration_as_its_body() -> None:
    from exchange.egress import WsdlCache

    tax = Endpoint.model_validate(
        next(e for e in SECTIONS["endpoints"] if e["name"] == "tax-bureau"),
        context={"routes_dir": ROUTES},
    )
    assert isinstance(tax, SoapEndpoint)
    operation = WsdlCache().operation(tax)
    assert operation.body == f"{{{TAX_NS}}}{FOLDERS[TAX].manifest['root']}"
    assert operation.part is None and operation.version == "1.1"
    assert operation.address == "http://127.0.0.1:8001/demo-receivers/tax-bureau-soap"
