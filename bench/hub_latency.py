"""Round trip of one ``evaluate`` command through the WebSocket hub and an extension
client, against the same command through Playwright directly.

Starts the API with its hub (SQLite in a temp dir) on a local port, creates an
``executor: "extension"`` agent, connects a client with its token, then times
``HubExecutor.run(Evaluate)``: command frame out, the client evaluates, result frame
back. The baseline is ``PlaywrightExecutor.run(Evaluate)`` on a headless Chromium page.

    .venv/bin/python bench/hub_latency.py [--rounds 200] [--client python|extension|external]

Clients:

- ``python`` (default): the Python stand-in of the extension
  (``tests/fixtures/extension.py``), evaluating on a headless Chromium page with the
  runner's ``PlaywrightExecutor``; it shares this process's event loop with the server.
- ``extension``: the real Chrome extension (``extension/``) in a plain headless Chromium
  subprocess, connected through its popup (``tests/extension/browsers.py``); commands
  run in its working tab, with ``chrome.debugger``.
- ``external``: prints the hub URL and the agent token and waits (``--connect-timeout``)
  for another client, such as the real extension, to connect; commands then run in
  whatever tab that client uses. ``--host``/``--port`` choose where the server listens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.app import create_app  # noqa: E402
from api.config import Settings  # noqa: E402
from api.context import AppContext  # noqa: E402
from api.hub import Hub, HubExecutor, HubTimings, hub_component  # noqa: E402
from flows.commands import Evaluate  # noqa: E402
from profiles.launch import BASE_ARGS  # noqa: E402
from tests.fixtures.extension import FakeExtension, PlaywrightCommands, socket_url  # noqa: E402
from tests.fixtures.live_server import live_server  # noqa: E402
from tests.helpers import make_account  # noqa: E402

CHROMIUM = os.environ.get("BREDGIO_CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = list(BASE_ARGS)
EXPRESSION = "1 + 1"
WARMUP = 20


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    """Milliseconds per call, after a warm-up."""
    for _ in range(WARMUP):
        await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"p50 {statistics.median(ordered):6.2f} ms   p90 {p90:6.2f} ms"


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = await browser.new_page()
        await page.set_content("<title>bench</title><p>hub latency</p>")
        try:
            yield page
        finally:
            await browser.close()


async def new_extension_agent(context: AppContext, base_url: str) -> tuple[str, str]:
    account = make_account(context, "bench@example.com")
    async with httpx.AsyncClient(base_url=base_url, headers=account.headers) as http:
        response = await http.post(
            "/api/agents", json={"name": "bench", "executor": "extension", "platforms": []}
        )
    response.raise_for_status()
    agent = response.json()["agent"]
    return agent["agentId"], agent["token"]


async def wait_for_socket(hub: Hub, agent_id: str, timeout_s: float) -> HubExecutor:
    deadline = time.monotonic() + timeout_s
    while (connection := hub.connection(agent_id)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"no client connected within {timeout_s:g} s")
        await asyncio.sleep(0.05)
    return HubExecutor(connection)


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bredgio-hub-latency-")) / "data"
    context = AppContext.create(Settings(data_dir=data_dir, secret_key="bench-secret-key"))
    app = create_app(context, lifespans=[hub_component(None, timings=HubTimings())])
    command = Evaluate(expression=EXPRESSION)
    async with AsyncExitStack() as stack:
        base_url = await stack.enter_async_context(live_server(app, host=args.host, port=args.port))
        agent_id, token = await new_extension_agent(context, base_url)
        page = await stack.enter_async_context(chromium_page())
        if args.client == "python":
            handler = PlaywrightCommands(page, base_url)
            await stack.enter_async_context(FakeExtension(socket_url(base_url, token), handler))
            label = "python client"
        elif args.client == "extension":
            from tests.extension.browsers import PlainChromium

            operator = PlainChromium(Path(tempfile.mkdtemp(prefix="bredgio-ext-")) / "profile")
            operator.start()
            stack.callback(operator.stop)
            await operator.connect(base_url, token)
            label = "Chrome extension"
        else:
            print(f"hub:   {socket_url(base_url, None)}")
            print(f"token: {token}")
            print(f"waiting up to {args.connect_timeout:g} s for a client to connect...")
            label = "external client"
        hub: Hub = app.state.hub
        through_hub = await wait_for_socket(hub, agent_id, args.connect_timeout)

        from runner.playwright_executor import PlaywrightExecutor

        direct = PlaywrightExecutor(page)
        hub_ms = await timed(lambda: through_hub.run(command), args.rounds)
        direct_ms = await timed(lambda: direct.run(command), args.rounds)

    print(f"evaluate({EXPRESSION!r}) round trip, {args.rounds} rounds after {WARMUP} warm-up")
    rows = [(f"through the hub ({label}):", hub_ms), ("Playwright directly:", direct_ms)]
    for name, samples in rows:
        print(f"  {name:<36}{summary(samples)}")
    overhead = statistics.median(hub_ms) - statistics.median(direct_ms)
    print(f"  hub p50 - direct p50: {overhead:+.2f} ms")
    context.db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--client", choices=["python", "extension", "external"], default="python")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    asyncio.run(main(parser.parse_args()))
