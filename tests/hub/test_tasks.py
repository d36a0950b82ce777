"""Tasks of extension agents: run through the agent's socket, failed ``agent_offline``
when it has none, ``disconnected`` when it drops mid-task; and an X post end to end with
a Python extension that drives a real Chromium page on the look-alike site."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import BrowserContext, Page
from sqlalchemy import update
from sqlmodel import col

from api.db.models import Task
from tests.fixtures.extension import PlaywrightCommands
from tests.fixtures.sites import SiteServer
from tests.fixtures.sites.server import login_cookies
from tests.helpers import Account, png_bytes
from tests.hub.conftest import (
    Server,
    StartServer,
    eventually,
    refuse_screenshot,
    status_is,
    timings,
)


@pytest.fixture(autouse=True)
def _fresh_sites(reset_sites: None) -> None:
    return None


async def test_a_task_without_a_connected_extension_fails_agent_offline(
    start_server: StartServer, alice: Account
) -> None:
    # The wake-up after commit does it; the reconciler is too slow to be the one.
    async with start_server(timings(reconcile_interval_s=3600)) as server:
        agent_id, _ = await server.new_agent(alice, platforms=("twitter",))
        task_id = await server.dispatch(alice, agent_id)
        task = await server.wait_task(alice, task_id, timeout_s=5)
        assert task["status"] == "failed"
        assert task["errorCode"] == "agent_offline"
        (entry,) = task["log"]
        assert entry["errorCode"] == "agent_offline" and entry["status"] == "error"


async def test_the_reconciler_runs_tasks_whose_time_came(server: Server, alice: Account) -> None:
    online, token = await server.new_agent(alice, platforms=("twitter",))
    offline, _ = await server.new_agent(alice, platforms=("twitter",))
    soon = datetime.now(UTC) + timedelta(seconds=2)
    async with server.extension(token) as extension:
        ran = await server.dispatch(alice, online, scheduled_for=soon)
        missed = await server.dispatch(alice, offline, scheduled_for=soon)
        await asyncio.sleep(0.3)
        assert (await server.task(alice, ran))["status"] == "pending"
        assert (await server.task(alice, missed))["status"] == "pending"

        command = await extension.next_command(timeout_s=5)
        assert command["cmd"] == "navigate"
        assert (await server.task(alice, ran))["status"] == "running"
        await extension.result(command["id"], ok=False, error="not found: nothing here")
        await refuse_screenshot(extension)
        assert (await server.wait_task(alice, ran))["status"] == "failed"
    task = await server.wait_task(alice, missed)
    assert task["errorCode"] == "agent_offline"


async def test_a_socket_dropping_mid_task_fails_it_disconnected(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice, platforms=("twitter",))
    extension = server.extension(token)
    await extension.connect()
    task_id = await server.dispatch(alice, agent_id)
    await extension.next_command()
    await extension.close()
    task = await server.wait_task(alice, task_id)
    assert task["status"] == "failed"
    assert task["errorCode"] == "disconnected"
    await eventually(lambda: status_is(server, alice, agent_id, "offline"))


async def test_tasks_of_runner_agents_are_left_to_runners(server: Server, alice: Account) -> None:
    agent_id, token = await server.new_agent(alice, executor="runner", platforms=("twitter",))
    async with server.extension(token) as extension:
        task_id = await server.dispatch(alice, agent_id)
        await asyncio.sleep(0.5)  # two reconciler passes
        assert (await server.task(alice, task_id))["status"] == "pending"
        assert extension.commands.empty()


async def test_an_agents_tasks_run_one_at_a_time_in_order(server: Server, alice: Account) -> None:
    agent_id, token = await server.new_agent(alice, platforms=("twitter",))
    async with server.extension(token) as extension:
        first = await server.dispatch(alice, agent_id, "first")
        second = await server.dispatch(alice, agent_id, "second")
        command = await extension.next_command()
        await asyncio.sleep(0.2)
        assert extension.commands.empty()  # the second waits for the first
        assert (await server.task(alice, second))["status"] == "pending"
        await extension.result(command["id"], ok=False, error="boom")

        # A failed task gets a screenshot of the extension's tab on its error entry.
        shot = await extension.next_command()
        assert shot["cmd"] == "screenshot" and shot["args"] == {"format": "png"}
        image = png_bytes()
        data_uri = "data:image/png;base64," + base64.b64encode(image).decode()
        await extension.result(shot["id"], data={"dataUri": data_uri})
        task = await server.wait_task(alice, first)
        assert task["status"] == "failed" and task["errorCode"] == "x_unknown"
        (error,) = [entry for entry in task["log"] if entry["status"] == "error"]
        screenshot = await server.http.get(error["data"]["screenshot"], headers=alice.headers)
        assert screenshot.status_code == 200 and screenshot.content == image

        command = await extension.next_command()
        assert command["cmd"] == "navigate"
        assert (await server.task(alice, second))["status"] == "running"
        await extension.result(command["id"], ok=False, error="boom")
        await refuse_screenshot(extension)
        assert (await server.wait_task(alice, second))["status"] == "failed"


async def test_an_x_post_runs_end_to_end_through_an_extension(
    server: Server,
    alice: Account,
    twitter_site: SiteServer,
    page: Page,
    browser_context: BrowserContext,
) -> None:
    await browser_context.add_cookies(login_cookies("twitter", twitter_site.origin))  # type: ignore[arg-type]
    image = png_bytes(rgb=(0, 120, 255))
    uploaded = await server.http.post(
        "/api/media/upload",
        headers=alice.headers,
        files={"file": ("blue.png", image, "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    media_url = uploaded.json()["url"]
    assert media_url.startswith("/api/media-proxy/")

    agent_id, token = await server.new_agent(alice, platforms=("twitter",))
    commands = PlaywrightCommands(page, server.url)
    content = "From the operator's own browser 🍣\nsecond line"
    async with server.extension(token, commands, version="0.3.0"):
        media = [{"url": media_url, "type": "image/png"}]
        task_id = await server.dispatch(alice, agent_id, content, media=media)
        task = await server.wait_task(alice, task_id, timeout_s=30)

    assert task["status"] == "completed", task
    (post,) = twitter_site.posts
    assert post.text == content
    assert [data for _, _, data in post.images] == [image]
    assert task["result"]["post"]["url"] == twitter_site.origin + post.url
    assert all(entry["status"] != "error" for entry in task["log"])
    assert {"navigate", "upload", "click", "type"} <= set(commands.received)


async def test_a_task_left_running_by_a_dead_hub_is_recovered_and_run_again(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice, platforms=("twitter",))
    async with server.extension(token) as extension:
        paused = await server.http.patch(
            f"/api/agents/{agent_id}", headers=alice.headers, json={"status": "paused"}
        )
        assert paused.status_code == 200, paused.text
        task_id = await server.dispatch(alice, agent_id)  # held while the agent is paused
        # As a hub that died mid-task leaves it: running, its lease long expired.
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        with server.context.db.unit() as session:
            session.execute(
                update(Task)
                .where(col(Task.id) == task_id)
                .values(status="running", started_at=long_ago, heartbeat_at=long_ago)
            )
        await server.http.patch(
            f"/api/agents/{agent_id}", headers=alice.headers, json={"status": "online"}
        )

        command = await extension.next_command(timeout_s=5)
        assert command["cmd"] == "navigate"
        task = await server.task(alice, task_id)
        assert task["status"] == "running"
        assert task["attempt"] == 2
        assert [e["step"] for e in task["log"]] == ["recover"]
        await extension.result(command["id"], ok=False, error="boom")
        await refuse_screenshot(extension)
        assert (await server.wait_task(alice, task_id))["status"] == "failed"
