"""A throwaway PostgreSQL server for tests: its own cluster, on a free port, in a temp dir.

Tests that claim to run against PostgreSQL run against a real server, never a stand-in.
The cluster is created with ``initdb`` in a fresh directory and started with ``pg_ctl`` on a
free port, so it never touches a cluster the machine already runs (Debian starts one on 5432
when the ``postgresql`` package is installed). ``fsync=off`` and ``initdb --no-sync`` make it
start and write fast; that is safe here because the cluster is thrown away after the run and
nothing in it must survive a crash.

PostgreSQL refuses to run as root, so under root (CI) the server binaries run as the
``postgres`` system user and the cluster's directory belongs to that user.

Usage::

    server = start_postgres()
    try:
        url = server.create_database("t1")  # postgresql+asyncpg://... of a fresh database
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

USER = "exchange"
DATABASE = "exchange"
SYSTEM_USER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The test server cannot be found or started; the message says how to fix it."""


def find_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: pg_config's, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out:
            candidates.append(Path(out))

    def version(path: str) -> tuple[int, ...]:
        numbers = re.findall(r"\d+", Path(path).parent.name)
        return tuple(int(n) for n in numbers)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        # pg_config may come from the client library alone, without a server beside it.
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresUnavailable("PostgreSQL server binaries not found: apt-get install postgresql")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """A running test cluster; ``url`` is its default database for SQLAlchemy (asyncpg)."""

    bindir: Path
    root: Path
    port: int
    password: str
    run_as: str | None
    _running: bool = field(default=True, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command as the cluster's superuser over its Unix socket."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"psql {sql!r} failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and '_'")
        # FILE_COPY skips writing the template through the WAL: much faster for tiny databases.
        self.psql(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and '_'")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown: disconnect clients) and delete the cluster."""
        if self._running:
            self._running = False
            _run(
                [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"],
                self.run_as,
                self.root,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _run(
    argv: list[str], run_as: str | None, cwd: Path, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    program = Path(argv[0]).name
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PostgresUnavailable(f"{program} failed: {output}")
    return result


def _system_user() -> str | None:
    """Who runs the server: ourselves, or the postgres system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as: "
            "useradd --system postgres"
        ) from None
    return SYSTEM_USER


def start_postgres(base_dir: Path | None = None) -> PostgresServer:
    """Create and start a fresh cluster with an empty ``exchange`` database.

    ``base_dir`` (default: the system temp dir) is where the cluster's directory is made;
    under root the ``postgres`` user must be able to reach it, so pytest's ``tmp_path``
    (private to root) does not fit there.
    """
    bindir = find_bindir()
    run_as = _system_user()
    root = Path(tempfile.mkdtemp(prefix="exchange-pg-", dir=base_dir))
    server: PostgresServer | None = None
    try:
        if run_as is not None:
            owner = pwd.getpwnam(run_as)
            os.chown(root, owner.pw_uid, owner.pw_gid)
            if _run(["test", "-w", str(root)], run_as, Path("/"), check=False).returncode:
                raise PostgresUnavailable(
                    f"the {run_as} user cannot write {root}; pass a base_dir it can reach"
                )
        password = secrets.token_hex(16)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if run_as is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                # The Unix socket (used only by the helper's psql) trusts; TCP asks for the
                # password that the URLs carry.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            run_as,
            root,
        )
        pwfile.unlink()
        for attempt in range(3):
            port = free_port()
            options = (
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            started = _run(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    options,
                ],
                run_as,
                root,
                check=False,
            )
            if started.returncode == 0:
                break
            log = _tail(root / "server.log")
            # Another process may have taken the free port between our probe and the start.
            if attempt == 2 or "already in use" not in log:
                raise PostgresUnavailable(
                    f"pg_ctl start failed: {(started.stdout + started.stderr).strip()}\n{log}"
                )
        server = PostgresServer(
            bindir=bindir, root=root, port=port, password=password, run_as=run_as
        )
        server.psql(f"CREATE DATABASE {DATABASE}")
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            # pg_ctl may have started the server even though something after it failed.
            _run(
                [str(bindir / "pg_ctl"), "stop", "-D", str(root / "data"), "-m", "immediate"],
                run_as,
                root,
                check=False,
            )
            shutil.rmtree(root, ignore_errors=True)
        raise


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
