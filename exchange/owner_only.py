"""The hub's data is its owner's only: the data folder 0700, its files 0600, whatever the umask.

The store and the embedded backbone hold every message, the senders' key hashes and the audit
trail, so no other local user may read them.  A file is created with the mode it keeps (never
readable by others for a moment, and without changing the process-wide umask under the hub's
threads); SQLite then gives its -wal, -shm and -journal files the database file's own mode.
A folder or file left looser by an earlier version is tightened at start, and said so once at
INFO.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
# What SQLite keeps beside a database file (write-ahead log, its index, rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> None:
    """Make ``path`` (and any missing parents) and leave it owner-only."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = os.stat(path).st_mode
    if mode & stat.S_ISVTX and mode & stat.S_IWOTH:
        # A shared folder like /tmp: tightening it would lock everyone else out of it.
        log.warning(
            "the data folder %s is shared with other users (world-writable, sticky); "
            "set EXCHANGE_DATA_DIR to a folder of the hub's own",
            path,
        )
        return
    _tighten(path, FOLDER_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists, then leave it and its SQLite
    companions owner-only.  A file that cannot be created is left to whoever opens it next,
    which reports why in its own terms."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return
    for each in (path, *(path.with_name(path.name + end) for end in SQLITE_COMPANIONS)):
        if each.exists():
            _tighten(each, FILE_MODE)


def _tighten(path: Path, allowed: int) -> None:
    """Take away every permission bit of ``path`` outside ``allowed`` (the owner's)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if not mode & ~allowed:
            return
        os.chmod(path, mode & allowed)
    except OSError as exc:
        log.warning(
            "cannot make %s readable by its owner only: %s; run 'chmod go= %s' as its owner",
            path,
            exc.strerror or exc,
            path,
        )
        return
    log.info(
        "made %s readable by its owner only (mode %03o, was %03o): it holds the hub's data",
        path,
        mode & allowed,
        mode,
    )
