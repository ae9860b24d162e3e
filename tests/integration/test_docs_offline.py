"""/docs works on a network with no way out: Swagger UI's files come from the hub itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import REPO, HubProcess


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    started = HubProcess(home=REPO, data_dir=tmp_path_factory.mktemp("docs") / "var").start()
    try:
        yield started
    finally:
        started.stop()


def test_docs_load_every_asset_from_the_hub(hub: HubProcess) -> None:
    page = httpx.get(f"{hub.url}/docs")
    assert page.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(links) >= 3
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for link in links:
        assert link.startswith("/"), link
        assert httpx.get(hub.url + link).status_code == 200, link
    assert "SwaggerUIBundle" in httpx.get(f"{hub.url}/docs/assets/swagger-ui-bundle.js").text
    # ... and the page reads the hub's own document.
    assert '"/openapi.json"' in page.text
    assert httpx.get(f"{hub.url}/openapi.json").status_code == 200


def test_only_the_pages_assets_are_served(hub: HubProcess) -> None:
    for name in ("index.html", "..%2f..%2fsettings.py", "swagger-initializer.js"):
        answer = httpx.get(f"{hub.url}/docs/assets/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["content-type"] == "application/problem+json"
    # ReDoc would load its script from a CDN: it is not served.
    assert httpx.get(f"{hub.url}/redoc").status_code == 404
