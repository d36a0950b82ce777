"""GET /bredgio-extension.zip: the extension, zipped, preconfigured with this server's URL,
loadable unpacked as it comes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.async_api import Playwright

from api.app import create_app
from api.config import Settings
from api.context import AppContext
from api.errors import NotFound
from api.routes.extension_zip import build_archive
from tests.extension.browsers import EXTENSION_DIR, launched_browser

ROOT = "bredgio-extension/"


def make_client(tmp_path: Path, public_url: str | None = None) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789abcdef",
        public_url=public_url,
    )
    context = AppContext.create(settings, migrate=False)
    try:
        with TestClient(create_app(context), base_url="http://bredgio.test:8123") as client:
            yield client
    finally:
        context.db.dispose()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from make_client(tmp_path)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_zip_holds_the_extension_with_this_servers_url(client: TestClient) -> None:
    response = client.get("/bredgio-extension.zip", params={"v": "0.1.0"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "bredgio-extension.zip" in response.headers["content-disposition"]
    files = unzip(response.content)
    assert all(name.startswith(ROOT) for name in files)
    sources = {p.relative_to(EXTENSION_DIR).as_posix() for p in EXTENSION_DIR.rglob("*.*")}
    assert {name.removeprefix(ROOT) for name in files} == sources
    manifest = json.loads(files[ROOT + "manifest.json"])
    assert manifest["manifest_version"] == 3
    config = files[ROOT + "config.js"].decode()
    assert 'export const SERVER_URL = "http://bredgio.test:8123";' in config
    assert files[ROOT + "background.js"] == (EXTENSION_DIR / "background.js").read_bytes()
    # Same sources, same URL: the same bytes (cacheable, reproducible).
    assert client.get("/bredgio-extension.zip").content == response.content


def test_public_url_wins_over_the_request(tmp_path: Path) -> None:
    for client in make_client(tmp_path, public_url="https://bredgio.example.com/"):
        files = unzip(client.get("/bredgio-extension.zip").content)
        config = files[ROOT + "config.js"].decode()
        assert 'SERVER_URL = "https://bredgio.example.com";' in config


@pytest.mark.asyncio(loop_scope="session")
async def test_the_unzipped_extension_loads_with_its_server_preset(
    client: TestClient, tmp_path: Path, playwright_driver: Playwright
) -> None:
    with zipfile.ZipFile(io.BytesIO(client.get("/bredgio-extension.zip").content)) as archive:
        archive.extractall(tmp_path / "unzipped")
    unpacked = tmp_path / "unzipped" / "bredgio-extension"
    async with (
        launched_browser(playwright_driver, tmp_path / "profile", unpacked) as browser,
        browser.popup() as popup,
    ):
        server_field = popup.get_by_label("Server URL")
        assert await server_field.input_value() == "http://bredgio.test:8123"
        assert await popup.locator("#status").inner_text() == "Not connected"


def test_without_the_extension_files_the_route_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        build_archive(tmp_path / "missing", "http://x")
