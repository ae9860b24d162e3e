"""Compare two schemas' structures: how a document valid under WRITER may be refused by READER.

BACKWARD compares OLD (writer) with NEW (reader); FORWARD swaps them. The walk starts at the
root element and follows xmlschema's component model (elements, model groups, attributes,
simple types and their facets), so it sees through imports, named types, extensions and
``xs:group`` references alike. Each child is compared by its qualified name with its
*effective* occurrence (a child of an optional sequence is optional, a branch of a choice may be
absent), which keeps the walk independent of how the content model is spelt.

It is conservative where deciding exactly would need automata (a changed pattern, a reordered
sequence is not reported): a break it names is a real way to refuse a document; a change it does
not see is caught, if the samples cover it, by re-validating them. Not compared: substitution
groups and ``xsi:type``, identity constraints (key, keyref, unique), XSD 1.1 assertions, and
what a wildcard admits (a wildcard in READER is taken to accept whatever WRITER had there).
A named type reached by several paths is compared once, at the first path that reaches it, which
is also what stops the walk in recursive types.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from exchange.errors import ConfigError
from exchange.schemas import compiler
from exchange.schemas.message import MessageSchema

_XS = "{http://www.w3.org/2001/XMLSchema}"
#: Types whose lexical space takes any text: narrowing *to* them is never a break.
_ANY_TEXT = {f"{_XS}string", f"{_XS}anySimpleType", f"{_XS}anyAtomicType", None}
#: Deep enough for any real schema; guards against a pathological one.
_MAX_DEPTH = 200


@dataclass(frozen=True)
class Break:
    """One way a document valid under one version can be refused by the other.

    ``old`` and ``new`` are always what OLD and NEW say at ``path`` (``None`` where one of them
    has nothing), whichever direction found the break; ``direction`` is "backward" (an OLD
    document refused by NEW) or "forward" (a NEW document refused by OLD).
    """

    kind: str
    path: str
    old: str | None
    new: str | None
    message: str
    direction: str = "backward"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """``kind  path  old → new: sentence``, for the CLI and for error messages."""
        change = f"{self.old or '(none)'} → {self.new or '(none)'}"
        return f"{self.kind}  {self.path}  {change}: {self.message}"


def compare_structures(
    writer: MessageSchema, reader: MessageSchema, models: dict[Path, Any] | None = None
) -> list[Break]:
    """Every structural break from ``writer`` to ``reader`` (labelled as OLD → NEW).

    ``models`` keeps each schema's component model for the other direction of a FULL check
    (building one is most of the cost: about a second for XHTML).
    """
    root = f"/{writer.root}"
    if writer.namespace != reader.namespace:
        return [
            Break(
                "namespace-changed",
                root,
                writer.namespace,
                reader.namespace,
                "the root element's namespace changed; no document of one version is valid "
                "under the other",
            )
        ]
    if writer.root != reader.root:
        return [
            Break(
                "root-changed",
                root,
                writer.root,
                reader.root,
                "the root element changed; no document of one version is valid under the other",
            )
        ]
    models = {} if models is None else models
    w_schema = _component_model(writer, models)
    r_schema = _component_model(reader, models)
    walk = _Walk()
    walk.element(_root(w_schema, writer), _root(r_schema, reader), root, 0)
    return walk.breaks


def _root(model: Any, schema: MessageSchema) -> Any:
    """The root element's declaration, found by qname: it may come from an imported schema."""
    element = model.maps.elements.get(schema.qname)
    if element is None:
        raise ConfigError(
            f"{schema.xsd_path}: declares no element {schema.qname} (the manifest's namespace "
            "and root); fix the manifest or the schema"
        )
    return element


def _component_model(schema: MessageSchema, models: dict[Path, Any]) -> Any:
    model = models.get(schema.xsd_path)
    if model is None:
        model = models[schema.xsd_path] = compiler.compile_xmlschema(
            schema.xsd_path, schema.folder, xsd_version=schema.xsd_version
        )
    return model


@dataclass
class _Child:
    """A child element as its parent's content model allows it: effective min and max."""

    element: Any
    min: float
    max: float


class _Walk:
    def __init__(self) -> None:
        self.breaks: list[Break] = []
        # (writer type, reader type) pairs already compared: recursive types end here.
        self._seen: set[tuple[int, int]] = set()

    def add(self, kind: str, path: str, old: object, new: object, message: str) -> None:
        self.breaks.append(
            Break(
                kind,
                path,
                None if old is None else str(old),
                None if new is None else str(new),
                message,
            )
        )

    # -- elements -------------------------------------------------------------------------

    def element(self, w: Any, r: Any, path: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if w.nillable and not r.nillable:
            self.add("content-changed", path, "nillable", "not nillable", "xsi:nil is refused")
        w_fixed, r_fixed = getattr(w, "fixed", None), getattr(r, "fixed", None)
        if r_fixed is not None and r_fixed != w_fixed:
            self.add(
                "facet-tightened", path, w_fixed, f"fixed {r_fixed}", "a fixed value is required"
            )
        pair = (id(w.type), id(r.type))
        if pair in self._seen:
            return
        self._seen.add(pair)
        self.type(w.type, r.type, path, depth)

    def type(self, w: Any, r: Any, path: str, depth: int) -> None:
        if w.is_simple() or r.is_simple():
            if w.is_simple() and r.is_simple():
                self.simple(w, r, path)
            elif r.is_simple() and w.has_simple_content():
                self.simple(w.content, r, path)
                self.attributes(w, None, path)
            elif w.is_simple() and r.has_simple_content():
                self.simple(w, r.content, path)
                self.attributes(None, r, path)
            else:
                self.add(
                    "type-changed",
                    path,
                    _label(w),
                    _label(r),
                    "text content and element content do not mix; the element's type changed",
                )
            return
        self.attributes(w, r, path)
        if w.has_simple_content() and r.has_simple_content():
            self.simple(w.content, r.content, path)
            return
        if w.has_simple_content() != r.has_simple_content():
            if not (w.has_simple_content() and r.mixed):
                self.add(
                    "type-changed",
                    path,
                    _label(w),
                    _label(r),
                    "the element changed between text content and element content",
                )
            return
        if w.mixed and not r.mixed:
            self.add(
                "content-changed", path, "mixed", "element-only", "text between elements is refused"
            )
        self.content(w.content, r.content, path, depth)

    def content(self, w_group: Any, r_group: Any, path: str, depth: int) -> None:
        w_children, w_wild = _children(w_group)
        r_children, r_wild = _children(r_group)
        for name, wc in w_children.items():
            child_path = f"{path}/{wc.element.local_name}"
            rc = r_children.get(name)
            if rc is None:
                if not r_wild:
                    self.add(
                        "element-removed",
                        child_path,
                        _occurs(wc),
                        None,
                        "the element is no longer allowed here",
                    )
                continue
            if rc.min > wc.min:
                self.add(
                    "occurrence-narrowed",
                    child_path,
                    _occurs(wc),
                    _occurs(rc),
                    f"minOccurs raised from {_num(wc.min)} to {_num(rc.min)}",
                )
            if rc.max < wc.max:
                self.add(
                    "occurrence-narrowed",
                    child_path,
                    _occurs(wc),
                    _occurs(rc),
                    f"maxOccurs lowered from {_num(wc.max)} to {_num(rc.max)}",
                )
            self.element(wc.element, rc.element, child_path, depth + 1)
        for name, rc in r_children.items():
            if name not in w_children and rc.min >= 1:
                self.add(
                    "element-required",
                    f"{path}/{rc.element.local_name}",
                    None,
                    _occurs(rc),
                    "a new element is required where none was before",
                )
        if w_wild and not r_wild:
            self.add("content-changed", path, "xs:any", None, "the wildcard (xs:any) was removed")

    def attributes(self, w: Any, r: Any, path: str) -> None:
        w_attrs = dict(w.attributes) if w is not None and w.is_complex() else {}
        r_attrs = dict(r.attributes) if r is not None and r.is_complex() else {}
        r_wild = None in r_attrs
        for name, wa in w_attrs.items():
            if name is None:
                continue
            attr_path = f"{path}/@{wa.local_name}"
            ra = r_attrs.get(name)
            if ra is None:
                if not r_wild:
                    self.add(
                        "attribute-removed",
                        attr_path,
                        wa.use,
                        None,
                        "the attribute is no longer allowed",
                    )
                continue
            if ra.use == "required" and wa.use != "required":
                self.add(
                    "attribute-required", attr_path, wa.use, ra.use, "the attribute became required"
                )
            self.simple(wa.type, ra.type, attr_path)
        for name, ra in r_attrs.items():
            if name is not None and name not in w_attrs and ra.use == "required":
                self.add(
                    "attribute-required",
                    f"{path}/@{ra.local_name}",
                    None,
                    "required",
                    "a new attribute is required",
                )
        if None in w_attrs and not r_wild:
            self.add(
                "content-changed",
                path,
                "xs:anyAttribute",
                None,
                "the attribute wildcard was removed",
            )

    # -- simple types ---------------------------------------------------------------------

    def simple(self, w: Any, r: Any, path: str) -> None:
        kinds = (_variety(w), _variety(r))
        if kinds[0] != kinds[1]:
            if _builtin(r).name not in _ANY_TEXT or _facets(r):
                self.add("type-changed", path, _label(w), _label(r), "the value's type changed")
            return
        if kinds[0] == "list":
            self.simple(w.item_type, r.item_type, path)
            self._facets(w, r, path)
            return
        if kinds[0] == "union":
            w_members = {_label(m) for m in w.member_types}
            r_members = {_label(m) for m in r.member_types}
            if not w_members <= r_members:
                dropped = ", ".join(sorted(w_members - r_members))
                self.add(
                    "type-restricted",
                    path,
                    _label(w),
                    _label(r),
                    f"union members dropped: {dropped}",
                )
            return
        wb, rb = _builtin(w), _builtin(r)
        # By name: each schema has its own copy of the built-ins, so objects never match.
        if wb.name != rb.name and rb.name not in _ANY_TEXT and rb.name not in _ancestry(wb):
            restricted = wb.name in _ancestry(rb)
            self.add(
                "type-restricted" if restricted else "type-changed",
                path,
                _label(w),
                _label(r),
                f"the base type {'narrowed' if restricted else 'changed'} from {_short(wb.name)} "
                f"to {_short(rb.name)}",
            )
            return
        self._facets(w, r, path)

    def _facets(self, w: Any, r: Any, path: str) -> None:
        wf, rf = _facets(w), _facets(r)
        w_enum, r_enum = wf.get("enumeration"), rf.get("enumeration")
        if r_enum is not None:
            if w_enum is None:
                self.add(
                    "facet-tightened",
                    path,
                    None,
                    _list(r_enum),
                    "values are now limited to an enumeration",
                )
            else:
                for value in w_enum:
                    if value not in r_enum:
                        self.add(
                            "enumeration-dropped",
                            path,
                            value,
                            None,
                            f"the value {value!r} is no longer allowed",
                        )
            return  # within an enumeration the other facets rarely matter; values decide
        for kind, old, new in _tightened(wf, rf):
            self.add("facet-tightened", path, old, new, f"{kind} tightened")
        w_pat, r_pat = wf.get("pattern"), rf.get("pattern")
        if r_pat and r_pat != w_pat and not set(r_pat) <= set(w_pat or ()):
            self.add(
                "facet-tightened",
                path,
                _list(w_pat) if w_pat else None,
                _list(r_pat),
                "the pattern changed (a value matching the old one may not match the new)",
            )


def _children(group: Any) -> tuple[dict[str, _Child], bool]:
    """Each child element's effective occurrence in ``group``, and whether a wildcard is there."""
    found: dict[str, _Child] = {}
    wildcard = _collect(group, 1, 1, found, set())
    return found, wildcard


def _collect(group: Any, gmin: float, gmax: float, into: dict[str, _Child], seen: set[int]) -> bool:
    if id(group) in seen:  # a group that contains itself (only through a recursive ref)
        return False
    seen = seen | {id(group)}
    gmin *= group.min_occurs
    gmax *= _max(group.max_occurs)
    choice = group.model == "choice" and len(group) > 1
    wildcard = False
    local: dict[str, _Child] = {}
    for particle in group:
        pmin = 0.0 if choice else gmin
        if type(particle).__name__ == "XsdGroup":
            branch: dict[str, _Child] = {}
            wildcard |= _collect(particle, pmin, gmax, branch, seen)
        elif type(particle).__name__.startswith("XsdAny"):
            wildcard = True
            continue
        else:
            branch = {
                str(particle.name): _Child(
                    particle, pmin * particle.min_occurs, gmax * _max(particle.max_occurs)
                )
            }
        for name, child in branch.items():
            known = local.get(name)
            if known is None:
                local[name] = child
            elif choice:  # one branch or another: the widest of them
                known.max = max(known.max, child.max)
            else:  # in sequence: they add up
                known.min += child.min
                known.max += child.max
    for name, child in local.items():
        known = into.get(name)
        if known is None:
            into[name] = child
        else:
            known.min += child.min
            known.max += child.max
    return wildcard


def _facets(simple: Any) -> dict[str, Any]:
    """The facets in force on a simple type: its own, then each base's (the nearest wins).

    Patterns of every level apply together, so they are gathered, not overridden.
    """
    facets: dict[str, Any] = {}
    patterns: list[str] = []
    current = simple
    depth = 0
    while current is not None and depth < 50:
        for key, facet in (getattr(current, "facets", None) or {}).items():
            if key is None or not key.startswith(_XS):
                continue
            kind = key[len(_XS) :]
            if kind == "pattern":
                patterns.extend(str(p) for p in getattr(facet, "regexps", ()))
            elif kind == "enumeration":
                facets.setdefault(kind, [_text(v) for v in facet.enumeration])
            elif kind != "whiteSpace":
                facets.setdefault(kind, facet.value)
        current = getattr(current, "base_type", None)
        depth += 1
    if patterns:
        facets["pattern"] = sorted(set(patterns))
    return facets


def _tightened(w: dict[str, Any], r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(facet, old, new) for each bound the reader draws tighter than the writer."""
    found: list[tuple[str, str, str]] = []
    w_len, r_len = w.get("length"), r.get("length")
    if r_len is not None and r_len != w_len:
        found.append(("length", _facet("length", w_len), _facet("length", r_len)))
    w_min = w_len if w_len is not None else w.get("minLength", 0)
    w_max = w_len if w_len is not None else w.get("maxLength", math.inf)
    if r_len is None:
        if r.get("minLength", 0) > w_min:
            found.append(
                ("minLength", _facet("minLength", w_min), _facet("minLength", r["minLength"]))
            )
        if r.get("maxLength", math.inf) < w_max:
            found.append(
                ("maxLength", _facet("maxLength", w_max), _facet("maxLength", r["maxLength"]))
            )
    for kind in ("totalDigits", "fractionDigits"):
        if kind in r and r[kind] < w.get(kind, math.inf):
            found.append((kind, _facet(kind, w.get(kind)), _facet(kind, r[kind])))
    low_w, low_r = _bound(w, "min"), _bound(r, "min")
    if low_r is not None and (low_w is None or _tighter(low_r, low_w, lower=True)):
        found.append(("lower bound", _bound_label(low_w), _bound_label(low_r)))
    high_w, high_r = _bound(w, "max"), _bound(r, "max")
    if high_r is not None and (high_w is None or _tighter(high_r, high_w, lower=False)):
        found.append(("upper bound", _bound_label(high_w), _bound_label(high_r)))
    return found


def _bound(facets: dict[str, Any], side: str) -> tuple[str, Any, bool] | None:
    """(facet name, value, inclusive) of the min or max bound, if any."""
    for suffix, inclusive in (("Inclusive", True), ("Exclusive", False)):
        key = f"{side}{suffix}"
        if key in facets:
            return key, facets[key], inclusive
    return None


def _tighter(new: tuple[str, Any, bool], old: tuple[str, Any, bool], *, lower: bool) -> bool:
    try:
        new_v, old_v = _comparable(new[1]), _comparable(old[1])
        if new_v == old_v:
            return bool(old[2] and not new[2])  # inclusive became exclusive
        return bool(new_v > old_v) if lower else bool(new_v < old_v)
    except TypeError:  # values of unrelated types (a date against a number): call it changed
        return bool(new[1] != old[1])


def _comparable(value: Any) -> Any:
    """Numbers as Decimal (so 10 and 10.0 and Decimal("10") compare); dates etc. as they are."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value


def _bound_label(bound: tuple[str, Any, bool] | None) -> str:
    return "none" if bound is None else f"{bound[0]} {_text(bound[1])}"


def _variety(simple: Any) -> str:
    name = type(simple).__name__
    if "List" in name:
        return "list"
    if "Union" in name:
        return "union"
    return "atomic"


def _builtin(simple: Any) -> Any:
    """The built-in type an atomic type derives from (xs:string for ``xs:token`` restrictions)."""
    current = simple
    while current is not None and type(current).__name__ != "XsdAtomicBuiltin":
        base = getattr(current, "base_type", None)
        if base is None:
            break
        current = base
    return current


def _ancestry(builtin: Any) -> list[str]:
    """The names of a built-in type's bases (xs:int: xs:long, xs:integer, xs:decimal...)."""
    names: list[str] = []
    current = getattr(builtin, "base_type", None)
    while current is not None and len(names) < 20:
        names.append(str(current.name))
        current = getattr(current, "base_type", None)
    return names


def _label(component: Any) -> str:
    name = getattr(component, "name", None)
    if name:
        return _short(str(name))
    base = getattr(component, "base_type", None)
    if base is not None and getattr(base, "name", None):
        return f"restriction of {_short(str(base.name))}"
    return "anonymous type"


def _short(clark: str | None) -> str:
    if not clark:
        return "anySimpleType"
    if clark.startswith(_XS):
        return "xs:" + clark[len(_XS) :]
    return clark.split("}", 1)[-1]


def _max(value: int | None) -> float:
    return math.inf if value is None else float(value)


def _num(value: float) -> str:
    return "unbounded" if value == math.inf else str(int(value))


def _occurs(child: _Child) -> str:
    return f"{_num(child.min)}..{_num(child.max)}"


def _facet(kind: str, value: Any) -> str:
    return f"{kind} {'none' if value is None or value == math.inf else _text(value)}"


def _text(value: Any) -> str:
    return str(value)


def _list(values: list[str]) -> str:
    return ", ".join(values)
