"""The error raised when adapter definitions are wrong (defined in ``exchange.errors``).

Kept as an import path: ``from exchange.adapters.problems import AdapterConfigError``.
"""

from __future__ import annotations

from exchange.errors import AdapterConfigError

__all__ = ["AdapterConfigError"]
