"""Read a routes folder into validated models, remembering where each part came from.

PyYAML's composer gives nodes with start marks; we walk them ourselves so that
every key and list item keeps its line number, then hand the plain data to the
pydantic models.  A pydantic error's ``loc`` is a path through that data, so
the same path finds the line to blame.  Problems are collected, not raised:
an operator fixing a folder wants to see all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from exchange.routing.model import Endpoint, Route, SenderPolicy, endpoint_class
from exchange.routing.problems import LintProblem, did_you_mean, display_path
from exchange.routing.validation import explain

ItemT = TypeVar("ItemT", bound=BaseModel)
DataPath = tuple[str | int, ...]

SECTIONS: Mapping[str, tuple[str, type[BaseModel], str]] = {
    # section -> (what one item is called, its model, the field that names it)
    "endpoints": ("endpoint", Endpoint, "name"),
    "routes": ("route", Route, "name"),
    "senders": ("sender", SenderPolicy, "code"),
}
SUFFIXES = (".yaml", ".yml")
# Aliases can make a few lines expand into a huge (or endless) structure; a
# routes file is small, so generous limits cost nothing and stop both.
MAX_NODES = 100_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class Located(Generic[ItemT]):
    """A validated item with the file it came from and the line of each of its parts."""

    item: ItemT
    file: Path
    lines: Mapping[DataPath, int]

    def line(self, *path: str | int) -> int:
        """Line of the deepest part of ``path`` found in the file (else the item's line)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 0

    def where(self) -> str:
        return f"{display_path(self.file)}:{self.line()}"


@dataclass
class LoadedFiles:
    """Everything read from a routes folder; duplicates and invalid items are left out."""

    routes_dir: Path
    files: list[Path] = field(default_factory=list)
    endpoints: dict[str, Located[Endpoint]] = field(default_factory=dict)
    routes: dict[str, Located[Route]] = field(default_factory=dict)  # in file order
    senders: dict[str, Located[SenderPolicy]] = field(default_factory=dict)
    problems: list[LintProblem] = field(default_factory=list)


def route_files(routes_dir: Path) -> list[Path]:
    """The YAML files of a routes folder and its subfolders (``subscriptions/``: what the hub
    wrote on an operator's approval), in path order, hidden files and folders left out."""
    return sorted(
        path
        for path in routes_dir.rglob("*")
        if path.suffix in SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(routes_dir).parts)
    )


def load_files(routes_dir: Path) -> LoadedFiles:
    """Read and validate every file of ``routes_dir``; problems land in ``.problems``."""
    loaded = LoadedFiles(routes_dir=routes_dir)
    if not routes_dir.is_dir():
        loaded.problems.append(
            LintProblem(
                routes_dir,
                None,
                "the routes folder does not exist — create it (it may stay empty) "
                "or point the hub home at the right place",
            )
        )
        return loaded
    loaded.files = route_files(routes_dir)
    for path in loaded.files:
        _FileReader(path, loaded).read()
    return loaded


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


class _FileReader:
    """Reads one file into ``loaded``."""

    def __init__(self, path: Path, loaded: LoadedFiles) -> None:
        self.path = path
        self.loaded = loaded
        self.constructor = yaml.constructor.SafeConstructor()
        self.budget = MAX_NODES

    def problem(self, line: int | None, message: str) -> None:
        self.loaded.problems.append(LintProblem(self.path, line, message))

    def read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(None, f"cannot read the file: {exc} — save it as UTF-8 text")
            return
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            self.problem(*_syntax_problem(exc))
            return
        except yaml.YAMLError as exc:  # unmarked errors are rare (e.g. a stream error)
            self.problem(None, f"this is not valid YAML: {exc} — fix the syntax")
            return
        if root is None:  # an empty file, or only comments
            return
        if not isinstance(root, yaml.MappingNode):
            self.problem(
                _line(root),
                "the file must be a mapping of sections (endpoints:, routes:, senders:) — "
                "put the items under one of them",
            )
            return
        try:
            for key_node, value_node in self.pairs(root):
                self.read_section(key_node, value_node)
        except _TooLarge as exc:
            self.problem(
                _line(exc.node),
                f"the data here nests deeper than {MAX_DEPTH} levels or expands to more than "
                f"{MAX_NODES} values (recursive or repeated aliases?) — write it out plainly",
            )

    def pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """The mapping's key/value nodes with ``<<`` merges applied and duplicate keys reported.

        Keys written in the mapping itself override merged ones, as YAML says;
        only a key written twice in the mapping itself is a mistake.
        """
        own_count = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        try:
            self.constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.problem(*_syntax_problem(exc))
            return []
        split = len(node.value) - own_count
        merged, own = node.value[:split], node.value[split:]
        seen: dict[object, int] = {}
        result: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in own:
            key = self.scalar_key(key_node)
            if key is None:
                continue
            if key in seen:
                self.problem(
                    _line(key_node),
                    f"'{key}' appears twice in the same mapping (first on line {seen[key]}) — "
                    "remove one of them",
                )
                continue
            seen[key] = _line(key_node)
            result.append((key_node, value_node))
        inherited: dict[object, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in merged:  # later merged mappings win, as PyYAML orders them
            key = self.scalar_key(key_node)
            if key is not None and key not in seen:
                inherited[key] = (key_node, value_node)
        return [*inherited.values(), *result]

    def scalar_key(self, node: yaml.Node) -> str | int | None:
        if isinstance(node, yaml.ScalarNode):
            try:
                key = self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self.problem(_line(node), f"cannot read this key: {exc} — write it as plain text")
                return None
            if isinstance(key, str | int) and not isinstance(key, bool):
                return key
            return str(key)
        self.problem(_line(node), "a key must be plain text, not a list or mapping — rename it")
        return None

    def read_section(self, key_node: yaml.Node, value_node: yaml.Node) -> None:
        section = self.scalar_key(key_node)
        if not isinstance(section, str) or section not in SECTIONS:
            self.problem(
                _line(key_node),
                f"unknown section '{section}'{did_you_mean(str(section), SECTIONS)} — "
                "a routes file may only hold endpoints:, routes: and senders:",
            )
            return
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null"):
            return  # "routes:" with nothing under it yet
        if not isinstance(value_node, yaml.SequenceNode):
            self.problem(
                _line(value_node),
                f"section '{section}' must be a list — start each item with '- '",
            )
            return
        kind, model, name_field = SECTIONS[section]
        for index, item_node in enumerate(value_node.value, start=1):
            if not isinstance(item_node, yaml.MappingNode):
                self.problem(
                    _line(item_node),
                    f"{kind} #{index} must be a mapping of fields (name: ..., ...) — "
                    "indent its fields under the '- '",
                )
                continue
            lines: dict[DataPath, int] = {(): _line(item_node)}
            try:
                data = self.to_python(item_node, (), lines)
            except _TooLarge:
                raise _TooLarge(item_node) from None  # blame the item, not a far-off anchor
            self.add_item(section, kind, model, name_field, index, data, lines)

    def to_python(self, node: yaml.Node, path: DataPath, lines: dict[DataPath, int]) -> Any:
        """Plain data for ``node``; records the line of every key and list item below it."""
        self.budget -= 1
        if self.budget < 0 or len(path) > MAX_DEPTH:
            raise _TooLarge(node)
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str | int, Any] = {}
            for key_node, value_node in self.pairs(node):
                key = self.scalar_key(key_node)
                if key is None:
                    continue
                lines[(*path, key)] = _line(key_node)
                mapping[key] = self.to_python(value_node, (*path, key), lines)
            return mapping
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            for index, child in enumerate(node.value):
                lines[(*path, index)] = _line(child)
                items.append(self.to_python(child, (*path, index), lines))
            return items
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(_line(node), f"cannot read this value: {exc} — write it as plain YAML")
            return None

    def add_item(
        self,
        section: str,
        kind: str,
        model: type[BaseModel],
        name_field: str,
        index: int,
        data: Any,
        lines: dict[DataPath, int],
    ) -> None:
        name = data.get(name_field)
        label = f"{kind} '{name}'" if isinstance(name, str) else f"{kind} #{index}"
        if model is Endpoint:
            # Each endpoint kind is its own model: validate (and explain) with that one.
            try:
                model = endpoint_class(data.get("kind", "rest"))
            except ValueError as exc:
                self.problem(lines.get(("kind",), lines[()]), f"{label}: {exc}")
                return
        try:
            # Relative paths in an item (an endpoint's WSDL) start from the routes folder.
            item = model.model_validate(data, context={"routes_dir": self.loaded.routes_dir})
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self.problem(_error_line(error, lines), f"{label}: {explain(model, error)}")
            return
        located: Located[Any] = Located(item, self.path, lines)
        registry: dict[str, Located[Any]] = getattr(self.loaded, section)
        earlier = registry.get(name)
        if earlier is not None:
            self.loaded.problems.append(
                LintProblem(
                    self.path,
                    located.line(),
                    f"{kind} '{name}' is defined twice: at {earlier.where()} and here — "
                    "rename one or remove the duplicate",
                )
            )
        else:
            registry[name] = located


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _error_line(error: ErrorDetails, lines: Mapping[DataPath, int]) -> int:
    """The line of the deepest part of the error's location that the file has."""
    loc = tuple(error["loc"])
    for end in range(len(loc), -1, -1):
        found = lines.get(loc[:end])
        if found is not None:
            return found
    return lines[()]


def _syntax_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    mark = exc.problem_mark or exc.context_mark
    line = int(mark.line) + 1 if mark is not None else None
    parts = []
    if exc.context:
        context_line = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
        parts.append(f"{exc.context}{context_line}")
    if exc.problem:
        parts.append(exc.problem)
    detail = ": ".join(parts) or str(exc)
    return line, f"this is not valid YAML: {detail} — fix the syntax here"
