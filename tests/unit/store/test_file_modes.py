"""The hub's data folder and every file in it are its owner's only, whatever the umask."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from exchange.backbone.base import Record
from exchange.hub import Hub
from exchange.settings import Settings


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default: files readable by everyone unless the hub says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _hub(tmp_path: Path) -> Hub:
    home = tmp_path / "home"
    for folder in ("schemas", "adapters", "routes"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    return Hub(Settings(home=home, data_dir=tmp_path / "var", backbone="embedded"))


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Hub]:
    hub = _hub(tmp_path)
    await hub.start(workers=())
    try:
        yield hub
    finally:
        await hub.stop()


def _modes(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (and itself) with its permission bits."""
    entries = [folder, *sorted(folder.rglob("*"))]
    return {str(p.relative_to(folder.parent)): oct(stat.S_IMODE(p.stat().st_mode)) for p in entries}


def _loose(folder: Path) -> dict[str, str]:
    """What anyone but the owner may read, write or enter."""
    return {
        name: mode
        for name, mode in _modes(folder).items()
        if int(mode, 8) & (stat.S_IRWXG | stat.S_IRWXO)
    }


async def test_a_new_data_folder_and_every_file_in_it_are_owner_only(
    started: Hub, tmp_path: Path
) -> None:
    await started.store.keys.create("samr-reg")
    await started.backbone.publish([Record("inbound", b"<a/>", "k", {})])
    data = tmp_path / "var"
    # While open: SQLite's -wal and -shm files are there too.
    assert {"var/store.db-wal", "var/backbone.db-wal", "var/backbone.db-shm"} <= set(_modes(data))
    assert _loose(data) == {}
    modes = _modes(data)
    assert modes.pop("var") == "0o700"
    assert set(modes.values()) == {"0o600"}


async def test_what_an_earlier_version_left_readable_is_tightened_at_start_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    # As the hub made them before: umask modes, and a database still open with its WAL files.
    for name in ("store.db", "backbone.db"):
        sqlite3.connect(data / name).close()
    earlier = sqlite3.connect(data / "backbone.db")
    try:
        earlier.execute("PRAGMA journal_mode=WAL")
        earlier.execute("CREATE TABLE t (x)")
        assert _loose(data) == {
            "var": "0o755",
            "var/backbone.db": "0o644",
            "var/backbone.db-shm": "0o644",
            "var/backbone.db-wal": "0o644",
            "var/store.db": "0o644",
        }
        caplog.set_level(logging.INFO, logger="exchange.owner_only")
        hub = _hub(tmp_path)
        await hub.start(workers=())
        await hub.stop()
        assert _loose(data) == {}
        told = [r for r in caplog.records if r.name == "exchange.owner_only"]
        said = [r.getMessage() for r in told]
        assert len(said) == 5, said  # the folder and each file, once
        assert {r.levelno for r in told} == {logging.INFO}
        assert any(f"{data / 'backbone.db-wal'} readable by its owner only" in s for s in said)

        caplog.clear()
        hub = _hub(tmp_path)
        await hub.start(workers=())
        await hub.stop()
        assert [r for r in caplog.records if r.name == "exchange.owner_only"] == []
    finally:
        earlier.close()
