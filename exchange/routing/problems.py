"""What is wrong with a routing table, and where: one file, one line, one sentence."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class LintProblem:
    """One problem found in a routes folder.

    ``severity`` is "error" for problems that stop the table from loading and
    "warning" for ones that do not (an unknown sender code in a match, a header
    variable not set in this environment, an empty table).
    """

    file: Path
    line: int | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = (
            display_path(self.file)
            if self.line is None
            else f"{display_path(self.file)}:{self.line}"
        )
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.message}"


def display_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it, as operators type it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the closest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def sort_key(problem: LintProblem) -> tuple[str, int]:
    """Order problems the way a reader walks the files: by file, then by line."""
    return (str(problem.file), problem.line or 0)
