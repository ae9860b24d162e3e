"""The declarative mapping kind: a YAML file says which target element comes from where.

For the common translation that needs neither XSLT nor Python. ``adapter.yaml``
names the file (``kind: mapping``, ``mapping: mapping.yaml``); the file reads::

    namespaces:                      # prefixes of the XPaths over the source document
      samr: urn:cn:gov:samr:enterprise-registration:1
    target:
      root: LegalEntity              # the output's root element
      namespace: urn:cn:gov:exchange:canonical:legal-entity:1   # its (default) namespace
      namespaces: {}                 # optional: more prefixes for target names (ct:Amount)
    codelists:                       # optional: named code lists for `lookup`
      entity-types: {joint-stock: joint-stock-company}
    fields:                          # in output order
      - element: CreditCode
        from: samr:CreditCode        # XPath over the source (relative to for_each's node)
      - element: Status
        value: active                # a constant
      - element: EntityType
        from: samr:EnterpriseType
        map: {partnership: partnership}   # a code list; `default:` for the rest
      - element: Phone
        from: samr:Phone
        when: starts-with(samr:Phone, '1')  # written only when this XPath is true
        required: false              # left out when empty (else written, even empty)
      - element: Holder
        for_each: samr:Shareholders/samr:Shareholder   # one element per node
        fields: [...]                # children, their XPaths relative to that node
      - attribute: id
        join: [samr:A, samr:B]       # concatenation, `separator:` between non-empty parts
        then: [upper, {substring: [1, 6]}, {date: {from: "%Y%m%d", to: "%Y-%m-%d"}},
               {lookup: entity-types}, {decimals: 6}, lower, trim]

Values are the XPath result as a string with whitespace normalised (as
``normalize-space``); numbers and booleans as XPath writes them. A code list
file may stand in for an inline one: ``codelists: {entity-types: codes.yaml}``
(a YAML mapping in the adapter folder).

``source_root`` (optional, Clark notation) refuses a document of another type.
``upper``/``lower`` change ASCII letters only; ``date`` rearranges fixed-width
fields (``%Y %m %d %H %M %S``) and refuses a value of another shape;
``decimals: N`` writes at most N decimal places without trailing zeros.

The file is checked once, at load: every XPath is compiled and its prefixes
checked, every function and code list resolved, and every mistake is reported
together, each with the file and line. The checked fields are then generated
into one XSLT stylesheet (``exchange.adapters.mapping_xslt``), which is what
runs: a mapping costs what a stylesheet costs, under the same sandbox.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from lxml import etree
from pydantic import BaseModel, Field

from exchange.adapters.base import Adapter, AdapterSpec
from exchange.adapters.kinds import AdapterKind, KindConfig, where
from exchange.adapters.mapping_xslt import (
    CompiledMapping,
    FieldSpec,
    Step,
    code_table,
    date,
    decimals,
    generate,
    lower,
    substring,
    trim,
    upper,
)
from exchange.adapters.problems import AdapterConfigError, not_yaml
from exchange.envelope import Envelope
from exchange.errors import TranslationError

_LINE = "__line__"
_FIELD_KEYS = {
    "element",
    "attribute",
    "from",
    "join",
    "separator",
    "value",
    "map",
    "default",
    "then",
    "required",
    "when",
    "for_each",
    "fields",
}
_FUNCTIONS = ("upper", "lower", "trim", "substring", "date", "lookup", "decimals")


class MappingConfig(KindConfig):
    """Kind ``mapping``: the mapping file in the adapter folder."""

    mapping: str = Field(default="mapping.yaml", description="file name of the mapping (YAML)")


class MappingKind(AdapterKind):
    """Adapter kind ``mapping``: a declarative mapping file, compiled once at load."""

    name: ClassVar[str] = "mapping"
    config_model: ClassVar[type[BaseModel]] = MappingConfig

    def build(self, spec: AdapterSpec, config: BaseModel, folder: Path) -> Adapter:
        assert isinstance(config, MappingConfig)
        at = where(config, folder, "mapping")
        path = (folder / config.mapping).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise AdapterConfigError(
                [f"{at}: mapping file '{config.mapping}' is outside {folder}; keep it there"]
            )
        if not path.is_file():
            raise AdapterConfigError(
                [f"{at}: mapping file '{config.mapping}' does not exist in {folder}; add it"]
            )
        return MappingAdapter(spec, path)


class MappingAdapter(Adapter):
    """Runs a mapping file, compiled once into a stylesheet (see ``mapping_xslt``)."""

    def __init__(self, spec: AdapterSpec, path: Path) -> None:
        super().__init__(spec)
        self.path = path
        plan = compile_mapping(_read(path), path)
        self.source_root = plan.source_root
        self.stylesheet = generate(
            spec.name, plan.source_ns, plan.root_tag, plan.nsmap, plan.fields
        )
        self._run = CompiledMapping(spec.name, self.stylesheet)

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        source = document.getroot()
        if self.source_root is not None and source.tag != self.source_root:
            raise TranslationError(
                f"adapter '{self.spec.name}': expects a {self.source_root} document, got "
                f"{source.tag}; route only {self.spec.source} messages to it"
            )
        return self._run(document)


@dataclass(frozen=True)
class _Plan:
    source_ns: Mapping[str, str]
    root_tag: str
    nsmap: Mapping[str | None, str]
    source_root: str | None
    fields: tuple[FieldSpec, ...]


# -- reading and compiling --------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Safe YAML whose mappings remember their line, so errors can point at it."""


def _mapping_with_line(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[_LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _read(path: Path) -> dict[Any, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise AdapterConfigError([f"{path}: cannot read the mapping file ({exc})"]) from exc
    except yaml.YAMLError as exc:
        raise not_yaml(path, exc) from exc
    if not isinstance(data, dict):
        raise AdapterConfigError(
            [f"{path}: a mapping file is a YAML mapping with target: and fields:"]
        )
    return data


def _plain(value: Any) -> Any:
    """``value`` without the line markers the loader adds."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != _LINE}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def compile_mapping(data: Mapping[Any, Any], path: Path) -> _Plan:
    """Compile a read mapping file; AdapterConfigError listing every problem with its line."""
    return _Compiler(path).plan(data)


class _Compiler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.source_ns: dict[str, str] = {}
        self.target_ns: dict[str, str] = {}
        self.default_ns: str | None = None
        self.codelists: dict[str, dict[str, str]] = {}

    def at(self, node: Mapping[Any, Any] | None) -> str:
        line = node.get(_LINE) if isinstance(node, Mapping) else None
        return f"{self.path}:{line}" if line else str(self.path)

    def plan(self, data: Mapping[Any, Any]) -> _Plan:
        for key in data:
            if key not in {"namespaces", "target", "codelists", "fields", "source_root", _LINE}:
                self.problems.append(
                    f"{self.at(data)}: unknown key '{key}'; use namespaces, target, codelists, "
                    "source_root, fields"
                )
        self.source_ns = self._prefixes(data.get("namespaces"), data, "namespaces")
        target = data.get("target")
        if not isinstance(target, dict) or not isinstance(target.get("root"), str):
            self.problems.append(
                f"{self.at(data)}: missing target: {{root: <element>, namespace: <uri>}}"
            )
            raise AdapterConfigError(self.problems)
        namespace = target.get("namespace")
        self.default_ns = namespace if isinstance(namespace, str) and namespace else None
        self.target_ns = self._prefixes(target.get("namespaces"), target, "target.namespaces")
        self.codelists = self._codelists(data.get("codelists"), data)
        source_root = data.get("source_root")
        fields = data.get("fields")
        if not isinstance(fields, list) or not fields:
            self.problems.append(f"{self.at(data)}: fields: must be a non-empty list of fields")
            fields = []
        compiled = tuple(f for f in (self._field(raw, data) for raw in fields) if f is not None)
        root_tag = self._name(str(target["root"]), target, attribute=False)
        if self.problems:
            raise AdapterConfigError(self.problems)
        nsmap: dict[str | None, str] = {None: self.default_ns} if self.default_ns else {}
        nsmap.update(self.target_ns)
        return _Plan(
            self.source_ns,
            root_tag,
            nsmap,
            source_root if isinstance(source_root, str) else None,
            compiled,
        )

    def _prefixes(self, raw: Any, owner: Mapping[Any, Any], key: str) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(
            isinstance(v, str) for k, v in raw.items() if k != _LINE
        ):
            self.problems.append(f"{self.at(owner)}: {key}: must map prefixes to namespace URIs")
            return {}
        return {str(k): v for k, v in raw.items() if k != _LINE}

    def _codelists(self, raw: Any, owner: Mapping[Any, Any]) -> dict[str, dict[str, str]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problems.append(f"{self.at(owner)}: codelists: must map names to code lists")
            return {}
        lists: dict[str, dict[str, str]] = {}
        for name, value in raw.items():
            if name == _LINE:
                continue
            if isinstance(value, str):
                value = self._codelist_file(value, raw)
            if not isinstance(value, dict):
                self.problems.append(
                    f"{self.at(raw)}: code list '{name}' must be a mapping or a YAML file name"
                )
                continue
            lists[str(name)] = {str(k): str(v) for k, v in _plain(value).items()}
        return lists

    def _codelist_file(self, name: str, owner: Mapping[Any, Any]) -> Any:
        file = (self.path.parent / name).resolve()
        if not file.is_relative_to(self.path.parent.resolve()) or not file.is_file():
            self.problems.append(
                f"{self.at(owner)}: code list file '{name}' is not in {self.path.parent}; add it"
            )
            return None
        try:
            return yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            self.problems.append(f"{file}: cannot read this code list ({exc}); fix it")
            return None

    def _compiled(self, text: str) -> Any:
        return etree.XPath(text, namespaces=self.source_ns)

    def _checked(self, expr: Any, node: Mapping[Any, Any], key: str) -> str:
        """``expr`` if it is a good XPath ("" and a problem if not)."""
        return expr if self._xpath(expr, node, key) is not None else ""

    def _xpath(self, expr: Any, node: Mapping[Any, Any], key: str) -> etree.XPath | None:
        """Compile ``expr``; None and a problem naming the line if it is bad."""
        if not isinstance(expr, str) or not expr.strip():
            self.problems.append(f"{self.at(node)}: {key}: must be an XPath expression")
            return None
        undeclared = sorted(set(_prefixes_in(expr)) - set(self.source_ns))
        if undeclared:
            known = ", ".join(sorted(self.source_ns)) or "none"
            self.problems.append(
                f"{self.at(node)}: {key}: bad XPath {expr!r}: prefix "
                f"{', '.join(undeclared)} is not declared under namespaces: (declared: {known})"
            )
            return None
        try:
            compiled: etree.XPath = self._compiled(expr)
        except etree.XPathSyntaxError as exc:
            reason = str(exc)
            if "Undefined namespace prefix" in reason:
                known = ", ".join(sorted(self.source_ns)) or "none"
                reason = f"a prefix is not declared under namespaces: (declared: {known})"
            self.problems.append(f"{self.at(node)}: {key}: bad XPath {expr!r}: {reason}")
            return None
        return compiled

    def _name(self, raw: str, node: Mapping[Any, Any], *, attribute: bool) -> str:
        prefix, _, local = raw.rpartition(":")
        if not prefix:
            # An unprefixed attribute is in no namespace, as in XML itself.
            return raw if attribute or not self.default_ns else f"{{{self.default_ns}}}{raw}"
        namespace = self.target_ns.get(prefix)
        if namespace is None:
            known = ", ".join(sorted(self.target_ns)) or "none"
            self.problems.append(
                f"{self.at(node)}: prefix '{prefix}' of {raw!r} is not declared under "
                f"target.namespaces (declared: {known}); declare it"
            )
            return local
        return f"{{{namespace}}}{local}"

    def _field(self, raw: Any, parent: Mapping[Any, Any]) -> FieldSpec | None:
        if not isinstance(raw, dict):
            self.problems.append(f"{self.at(parent)}: each field is a mapping with element:")
            return None
        before = len(self.problems)
        where = self.at(raw)
        for key in raw:
            if key != _LINE and key not in _FIELD_KEYS:
                hint = difflib.get_close_matches(str(key), sorted(_FIELD_KEYS), n=1)
                fix = (
                    f"did you mean '{hint[0]}'?"
                    if hint
                    else f"use {', '.join(sorted(_FIELD_KEYS))}"
                )
                self.problems.append(f"{where}: unknown field key '{key}'; {fix}")
        is_attribute = "attribute" in raw
        label = raw.get("attribute") if is_attribute else raw.get("element")
        if not isinstance(label, str) or not label:
            self.problems.append(f"{where}: a field needs element: <name> or attribute: <name>")
            return None
        name = self._name(label, raw, attribute=is_attribute)
        children_raw = raw.get("fields")
        sources = [k for k in ("from", "join", "value") if k in raw]
        if children_raw is not None:
            if sources or is_attribute:
                self.problems.append(
                    f"{where}: '{label}' has fields: and so takes no from/join/value; "
                    "use one or the other"
                )
        elif len(sources) != 1:
            self.problems.append(
                f"{where}: '{label}' needs exactly one of from:, join:, value: or fields:"
            )
        when = self._checked(raw["when"], raw, "when") if "when" in raw else None
        for_each = self._checked(raw["for_each"], raw, "for_each") if "for_each" in raw else None
        exprs: tuple[str, ...] = ()
        if "from" in raw:
            exprs = (self._checked(raw["from"], raw, "from"),)
        elif "join" in raw:
            parts = raw["join"]
            if not isinstance(parts, list) or not parts:
                self.problems.append(f"{where}: join: must be a list of XPath expressions")
            else:
                exprs = tuple(self._checked(part, raw, "join") for part in parts)
        constant = raw.get("value")
        code_list = raw.get("map")
        if code_list is not None:
            if not isinstance(code_list, dict):
                self.problems.append(f"{where}: map: must map source codes to target codes")
                code_list = None
            else:
                code_list = {str(k): str(v) for k, v in _plain(code_list).items()}
        default = raw.get("default")
        required = raw.get("required", True)
        if not isinstance(required, bool):
            self.problems.append(f"{where}: required: must be true or false")
        children: tuple[FieldSpec, ...] = ()
        if children_raw is not None:
            if not isinstance(children_raw, list) or not children_raw:
                self.problems.append(f"{where}: fields: must be a non-empty list")
            else:
                found = (self._field(child, raw) for child in children_raw)
                children = tuple(f for f in found if f is not None)
        steps = self._functions(raw.get("then", []), raw)
        if code_list is not None:
            table = code_table(code_list, None if default is None else str(default), None)
            steps = (table, *steps)
        if len(self.problems) > before:
            return None
        return FieldSpec(
            where=where,
            name=name,
            is_attribute=is_attribute,
            exprs=exprs,
            separator=str(raw.get("separator", "")),
            constant=None if constant is None else str(constant),
            steps=steps,
            required=bool(required),
            when=when,
            for_each=for_each,
            children=children,
        )

    def _functions(self, raw: Any, node: Mapping[Any, Any]) -> tuple[Step, ...]:
        if not isinstance(raw, list):
            raw = [raw]
        functions: list[Step] = []
        for item in raw:
            name, argument = _function_call(_plain(item))
            builder = _BUILDERS.get(name or "")
            if builder is None:
                hint = difflib.get_close_matches(name or "", _FUNCTIONS, n=1)
                fix = f"did you mean '{hint[0]}'?" if hint else f"known: {', '.join(_FUNCTIONS)}"
                self.problems.append(f"{self.at(node)}: then: unknown function {item!r}; {fix}")
                continue
            try:
                functions.append(builder(argument, self.codelists))
            except ValueError as exc:
                self.problems.append(f"{self.at(node)}: then: {name}: {exc}")
        return tuple(functions)


_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
# A name's prefix: not part of a longer name, not after a single ':' (but after an axis '::').
_PREFIX = re.compile(r"(?<![\w.-])(?<!(?<!:):)([A-Za-z_][\w.-]*):(?=[A-Za-z_*])")


def _prefixes_in(expr: str) -> list[str]:
    """The namespace prefixes of the names in an XPath (string literals and axes excluded).

    libxml2 reports an undeclared prefix only when the expression runs; looking for them
    here turns that into a load-time error with the file and line.
    """
    return _PREFIX.findall(_LITERAL.sub("''", expr))


def _function_call(item: Any) -> tuple[str | None, Any]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict) and len(item) == 1:
        ((name, argument),) = item.items()
        return str(name), argument
    return None, None


# -- the functions: each checks its argument and returns its Step ---------------------------

Builder = Callable[[Any, Mapping[str, Mapping[str, str]]], Step]


def _no_argument(name: str, step: Callable[[], Step]) -> Builder:
    def build(argument: Any, _lists: Mapping[str, Mapping[str, str]]) -> Step:
        if argument is not None:
            raise ValueError(f"takes no argument; write just '{name}'")
        return step()

    return build


def _substring(argument: Any, _lists: Mapping[str, Mapping[str, str]]) -> Step:
    """``{substring: [start, length]}``, counting from 1 as XPath does; length optional."""
    if not (
        isinstance(argument, list)
        and 1 <= len(argument) <= 2
        and all(isinstance(n, int) and n >= 0 for n in argument)
        and argument[0] >= 1
    ):
        raise ValueError("write {substring: [start, length]} with start counted from 1")
    return substring(argument[0], argument[1] if len(argument) == 2 else None)


def _date(argument: Any, _lists: Mapping[str, Mapping[str, str]]) -> Step:
    """``{date: {from: "%Y%m%d", to: "%Y-%m-%d"}}`` (fixed-width %Y %m %d %H %M %S)."""
    if not (
        isinstance(argument, dict)
        and set(argument) == {"from", "to"}
        and all(isinstance(v, str) for v in argument.values())
    ):
        raise ValueError('write {date: {from: "%Y%m%d", to: "%Y-%m-%d"}}')
    return date(argument["from"], argument["to"])


def _lookup(argument: Any, lists: Mapping[str, Mapping[str, str]]) -> Step:
    """``{lookup: NAME}``: the code list NAME of ``codelists:``; an unknown code is an error."""
    if not isinstance(argument, str) or argument not in lists:
        known = ", ".join(sorted(lists)) or "none"
        raise ValueError(f"code list {argument!r} is not under codelists: (known: {known})")
    return code_table(lists[argument], None, argument)


def _decimals(argument: Any, _lists: Mapping[str, Mapping[str, str]]) -> Step:
    """``{decimals: N}``: at most N decimal places, no trailing zeros (0.6, 0.333333)."""
    if not isinstance(argument, int) or not 0 <= argument <= 18:
        raise ValueError("write {decimals: N} with N from 0 to 18")
    return decimals(argument)


_BUILDERS: dict[str, Builder] = {
    "upper": _no_argument("upper", upper),
    "lower": _no_argument("lower", lower),
    "trim": _no_argument("trim", trim),
    "substring": _substring,
    "date": _date,
    "lookup": _lookup,
    "decimals": _decimals,
}
