"""Running real hub processes and fake department endpoints for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
SAMR_SAMPLES = REPO / "schemas" / "samr.EnterpriseRegistration" / "1.0" / "samples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_home(tmp: Path, routes_yaml: str) -> Path:
    """A hub home with the repository's schemas and adapters and the given routes."""
    home = tmp / "home"
    home.mkdir()
    shutil.copytree(REPO / "schemas", home / "schemas")
    shutil.copytree(REPO / "adapters", home / "adapters")
    (home / "routes").mkdir()
    (home / "routes" / "routes.yaml").write_text(routes_yaml, encoding="utf-8")
    return home


@dataclass
class HubProcess:
    """``exchange serve`` in a child process, on a free loopback port."""

    home: Path
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # extra `exchange serve` options
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_file: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "EXCHANGE_HOME": str(self.home),
            "EXCHANGE_DATA_DIR": str(self.data_dir),
            **self.env,
        }

    def start(self, timeout: float = 30.0) -> HubProcess:
        env = self._environment()
        self.log_path = self.data_dir / f"hub-{time.monotonic_ns()}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log_file = log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--port", str(self.port), *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited at start:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not answer /healthz in {timeout} s:\n{self.log()}")

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def stopped_cleanly(self) -> bool:
        """Exited after a graceful shutdown (uvicorn re-raises SIGTERM once it is done)."""
        return self.process is not None and self.process.returncode in (0, -signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def create_key(self, sender: str, *, operator: bool = False) -> str:
        env = self._environment()
        args = [sys.executable, "-m", "exchange", "keys", "create", sender]
        if operator:
            args.append("--operator")
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
        return next(line.split()[-1] for line in out.splitlines() if line.startswith("key:"))

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def rss_kib(self) -> int:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


Behaviour = Callable[[web.Request, int], web.Response | None]


class FakeDepartment:
    """Departments' REST endpoints for tests, served from a background thread.

    Records what arrives (header names lower-cased) and answers as told:
    ``behaviours[name](request, n)`` may return a response for the n-th call (1-based)
    to /name; None means 200.
    """

    def __init__(self) -> None:
        self.received: dict[str, list[tuple[dict[str, str], bytes]]] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.calls: Counter[str] = Counter()
        self.delays: dict[str, float] = {}  # seconds to wait before answering, per path
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def start(self) -> FakeDepartment:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def reset(self) -> None:
        self.received.clear()
        self.behaviours.clear()
        self.delays.clear()
        self.calls.clear()

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls[name] += 1
        if name in self.delays:
            await asyncio.sleep(self.delays[name])
        behaviour = self.behaviours.get(name)
        if behaviour is not None:
            answer = behaviour(request, self.calls[name])
            if answer is not None:
                return answer
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.setdefault(name, []).append((headers, await request.read()))
        return web.Response(status=200, text="ok")

    def distinct_ids(self, name: str) -> set[str]:
        return {headers["x-exchange-id"] for headers, _ in self.received.get(name, [])}


def wait_for(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
