"""The process-wide cache of compiled schemas, keyed by what the compile reads.

A key is the digest of a schema folder's files (samples, ``manifest.yaml``, hidden files and
``__pycache__`` left out: they do not change what the XSD compiles to) plus the manifest fields
the compile uses (main XSD, XSD version, namespace and root). So a rule-set reload reuses the
compiled schema of every folder it did not change, and recompiles one whose XSDs changed.

Entries are held weakly: a compiled schema stays cached while some loaded rule set uses it, and
goes when the last one is dropped, so reloads do not grow the cache.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exchange.digests import files_digest

_IGNORED_TOP = {"samples", "manifest.yaml"}

_entries: weakref.WeakValueDictionary[tuple[str, ...], Any] = weakref.WeakValueDictionary()
_locks: dict[tuple[str, ...], threading.Lock] = {}
_guard = threading.Lock()
#: compiles done (misses), for tests and diagnostics
compiles = 0


def folder_digest(folder: Path) -> str:
    """sha256 over the relative paths and bytes of the files a compile may read."""
    return files_digest(
        folder, (path for path in sorted(folder.rglob("*")) if _read_by_compile(folder, path))
    )


def _read_by_compile(folder: Path, path: Path) -> bool:
    parts = path.relative_to(folder).parts
    if parts[0] in _IGNORED_TOP or any(p.startswith(".") or p == "__pycache__" for p in parts):
        return False
    return path.is_file()


def compiled(key: tuple[str, ...], build: Callable[[], Any]) -> Any:
    """The cached value for ``key``, or ``build()`` stored under it (one build per key at a
    time: concurrent first uses wait for it). A build that raises is not stored."""
    global compiles
    found = _entries.get(key)
    if found is not None:
        return found
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        found = _entries.get(key)
        if found is None:
            found = build()
            compiles += 1
            _entries[key] = found
    return found


def clear() -> None:
    """Forget every entry (tests)."""
    with _guard:
        _entries.clear()
        _locks.clear()
