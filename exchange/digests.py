"""One digest of a set of files: what a rule set's version and a compiled schema's cache key are."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def files_digest(base: Path, paths: Iterable[Path]) -> str:
    """sha256 (hex) over each file's path relative to ``base`` and its bytes, in the order given.

    Lengths go first, so no two different sets of files can hash the same stream.
    """
    digest = hashlib.sha256()
    for path in paths:
        name = path.relative_to(base).as_posix().encode()
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()
