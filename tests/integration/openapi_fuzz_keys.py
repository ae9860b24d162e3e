"""schemathesis hooks for test_openapi_fuzz.py: which key each fuzzed request carries.

Loaded by the schemathesis command (``hooks`` in its config) with the keys in the
environment; as an auth provider, schemathesis leaves the key out where a case
tests what happens without one.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis import Case

SENDER_KEY = "FUZZ_SENDER_KEY"
OPERATOR_KEY = "FUZZ_OPERATOR_KEY"


@schemathesis.auth(refresh_interval=None)
class KeyOfTheOperation:
    """The operator's key for dead letters, the sender's for everything else."""

    def get(self, case: Case[Any], _: Any) -> str:
        operator = case.operation.path.startswith("/v1/dead-letters")
        return os.environ[OPERATOR_KEY if operator else SENDER_KEY]

    def set(self, case: Case[Any], key: str, _: Any) -> None:
        if case.headers is None:
            case.headers = {}
        case.headers["Authorization"] = f"Bearer {key}"
