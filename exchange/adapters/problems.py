"""The error raised when adapter definitions are wrong (defined in ``exchange.errors``).

Kept as an import path: ``from exchange.adapters.problems import AdapterConfigError``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from exchange.errors import AdapterConfigError

__all__ = ["AdapterConfigError", "not_yaml"]


def not_yaml(path: Path, exc: yaml.YAMLError) -> AdapterConfigError:
    """An adapter file that does not parse, with the line PyYAML blames."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    reason = getattr(exc, "problem", None) or str(exc)
    return AdapterConfigError([f"{where}: not valid YAML ({reason}); fix the syntax"])
