"""Turn a pydantic error into one sentence an operator can act on.

Pydantic says what is wrong ("Input should be greater than 0"); we add where
(the dotted field path) and what to do, including a "did you mean" for
misspelt field names.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from exchange.routing.problems import did_you_mean

_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_PATTERN_HINTS = {
    "name": "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit",
    "url": "write a full address starting with http:// or https://",
}


def explain(model: type[BaseModel], error: ErrorDetails) -> str:
    """``"<field path>: <what pydantic says> — <what to do>"`` for one validation error."""
    loc = tuple(error["loc"])
    where = loc_text(loc)
    prefix = f"{where}: " if where else ""
    return f"{prefix}{error['msg']} — {_hint(model, loc, error['type'])}"


def loc_text(loc: Sequence[str | int]) -> str:
    """``("destinations", 1, "endpoint")`` -> ``"destinations[1].endpoint"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _hint(model: type[BaseModel], loc: tuple[str | int, ...], kind: str) -> str:
    last = loc[-1] if loc else ""
    if kind == "missing":
        return f"add '{last}:' here"
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        return (
            f"remove it or fix the spelling{did_you_mean(str(last), allowed)}; "
            f"allowed here: {', '.join(allowed)}"
        )
    if kind == "string_pattern_mismatch":
        return _PATTERN_HINTS.get(str(last), "change the value to match the pattern")
    if kind in _RANGE:
        return "change the number to lie in the allowed range"
    if kind == "literal_error":
        return "use one of the values listed"
    if kind == "too_short":
        return "add at least one item"
    if kind.endswith(("_type", "_parsing")):
        return "change the value to the kind named (quote text, write numbers bare)"
    return "fix the value (the fields are described in exchange/routing/model.py)"


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the (nested) model found by following ``loc`` from ``model``."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        current = _model_in(info.annotation) if info is not None else None
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model inside an annotation such as ``RetryPolicy`` or ``list[Destination] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
