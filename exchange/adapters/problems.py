"""The error raised when adapter definitions are wrong, listing every problem found.

Loading goes on after the first bad folder so that an operator fixes a whole
``adapters/`` tree in one round instead of one error per restart.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.errors import ConfigError


class AdapterConfigError(ConfigError):
    """One or more adapters are wrongly defined; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{len(self.problems)} problems with adapters:\n{lines}"
        super().__init__(message)
