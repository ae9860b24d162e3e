"""A demo hub for the console's browser tests, and what the tests do with it.

``start_console_hub`` runs ``exchange serve --demo`` on free ports: the hub's home is a
copy of the repository's schemas, adapters and routes with the demo receivers' address
(127.0.0.1:8001) moved to the port the test's demo receivers listen on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from exchange.demo import DEMO_OPERATOR, DEMO_OPERATOR_KEY, DEMO_SENDER, DEMO_SENDER_KEY
from tests.harness import REPO, SAMR_SAMPLES, HubProcess, free_port

DEMO_ADDRESS = "127.0.0.1:8001"
SAMPLE = SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml"
VIEWER = "demo-viewer"

# Debian's chromium, driven by Playwright's own driver (its wheel): no browser download.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class ConsoleHub:
    process: HubProcess
    demo_port: int
    viewer_key: str
    operator_key: str = DEMO_OPERATOR_KEY
    operator_name: str = DEMO_OPERATOR
    viewer_name: str = VIEWER

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def demo_url(self) -> str:
        """Base URL of the demo receivers: ``{demo_url}/demo-receivers/<name>/inbox``."""
        return f"http://127.0.0.1:{self.demo_port}"

    @property
    def home(self) -> Path:
        return self.process.home

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    def exchange(self, *args: str) -> str:
        """Run ``exchange ARGS`` against this hub's home and data folder; its output."""
        env = {
            **os.environ,
            "EXCHANGE_HOME": str(self.home),
            "EXCHANGE_DATA_DIR": str(self.data_dir),
            **self.process.env,
        }
        done = subprocess.run(
            [sys.executable, "-m", "exchange", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"exchange {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_key(self, name: str, *, role: str = "sender") -> str:
        """A new key for ``name`` (role "sender", "operator" or "viewer"), in clear."""
        flags = [] if role == "sender" else [f"--{role}"]
        out = self.exchange("keys", "create", name, *flags)
        return next(line.split()[-1] for line in out.splitlines() if line.startswith("key:"))

    def stop(self) -> None:
        self.process.stop()


def demo_home(tmp: Path, demo_port: int) -> Path:
    home = tmp / "home"
    home.mkdir(parents=True)
    for folder in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / folder, home / folder)
    for path in (home / "routes").rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".wsdl", ".xsd"):
            text = path.read_text(encoding="utf-8")
            if DEMO_ADDRESS in text:
                path.write_text(
                    text.replace(DEMO_ADDRESS, f"127.0.0.1:{demo_port}"), encoding="utf-8"
                )
    return home


def start_console_hub(
    tmp: Path, *, processes: int = 1, env: dict[str, str] | None = None
) -> ConsoleHub:
    """A started demo hub in ``tmp`` with a viewer key made for it."""
    demo_port = free_port()
    process = HubProcess(
        home=demo_home(tmp, demo_port),
        data_dir=tmp / "var",
        env=dict(env or {}),
        args=["--demo", "--demo-port", str(demo_port), "--processes", str(processes)],
    )
    process.start()
    hub = ConsoleHub(process=process, demo_port=demo_port, viewer_key="")
    try:
        hub.viewer_key = hub.create_key(VIEWER, role="viewer")
    except BaseException:
        process.stop()
        raise
    return hub


def send(
    hub: ConsoleHub,
    *,
    message_id: str | None = None,
    body: bytes | None = None,
    correlation_id: str | None = None,
) -> str:
    """Submit a document (default: the demo registration) as samr-reg; the hub's id."""
    headers = {
        "Authorization": f"Bearer {DEMO_SENDER_KEY}",
        "Content-Type": "application/xml",
        "X-Exchange-Sender": DEMO_SENDER,
        "X-Exchange-Message-Id": message_id or f"console-{uuid.uuid4()}",
    }
    if correlation_id is not None:
        headers["X-Exchange-Correlation-Id"] = correlation_id
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=SAMPLE.read_bytes() if body is None else body,
        headers=headers,
        timeout=15,
    )
    assert answer.status_code == 202, answer.text
    hub_id: str = answer.json()["id"]
    return hub_id
