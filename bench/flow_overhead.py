"""The cost of Bredgio's flow engine and PlaywrightExecutor over hand-written Playwright.

Publishes the same X post on the look-alike site two ways, in one Chromium, on one page,
interleaving the two so that both see the same machine state:

- ``flow``: ``run_flow("post", "twitter", …)`` through ``PlaywrightExecutor`` (every step
  logged to an in-memory sink, fallback selectors, waits on ``aria-disabled``);
- ``hand``: the shortest correct Playwright script for the same page.

    .venv/bin/python bench/flow_overhead.py [--runs 25]

Prints the medians and their ratio (target: flow / hand <= 1.10), and each way's CPU per
post: Chromium's (every process of the browser), the Playwright driver's and this
process's, read from /proc around each run. Run one post at a time, these figures are
steady to a few ms, unlike the fleet's, so they show what the engine costs the browser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.engine import Origins, run_flow  # noqa: E402
from flows.sink import MemorySink  # noqa: E402
from profiles.launch import BASE_ARGS  # noqa: E402
from runner.playwright_executor import PlaywrightExecutor  # noqa: E402
from runner.processes import descendants  # noqa: E402
from tests.fixtures.sites import SiteServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
KINDS = ("Chromium", "Playwright driver", "Python")
FLAGS = list(BASE_ARGS)


async def hand_written(page: Page, origin: str, text: str) -> str:
    await page.goto(f"{origin}/compose/post")
    editor = page.locator('[role="dialog"] [data-testid="tweetTextarea_0"]')
    await editor.click()
    await page.keyboard.type(text)
    await page.locator(
        '[role="dialog"] [data-testid="tweetButton"]:not([aria-disabled="true"])'
    ).click()
    link = page.locator('[data-testid="toast"] a')
    await link.wait_for()
    href = await link.get_attribute("href")
    assert href
    return origin + href


async def through_engine(page: Page, origins: Origins, text: str) -> str:
    outcome = await run_flow(
        "post", "twitter", {"content": text}, PlaywrightExecutor(page), MemorySink(), origins
    )
    assert outcome.status == "completed", outcome
    assert outcome.result is not None
    return str(outcome.result["post"]["url"])


def cpu_by_kind() -> Counter[str]:
    """CPU seconds used so far by Chromium, the Playwright driver and this process."""
    from bench.fleet import cpu_seconds, process_kind

    used: Counter[str] = Counter({"Python": time.process_time()})
    for pid in descendants(os.getpid()):
        kind = process_kind(pid)
        if kind is not None:
            used[kind.partition("/")[0]] += cpu_seconds(pid)
    return used


async def main(runs: int) -> None:
    with SiteServer("twitter") as site:
        origins = Origins(twitter=site.origin)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context = await browser.new_context()
            await context.add_cookies(site.login_cookies())  # type: ignore[arg-type]
            page = await context.new_page()
            timings: dict[str, list[float]] = {"hand": [], "flow": []}
            cpu: dict[str, Counter[str]] = {"hand": Counter(), "flow": Counter()}
            for n in range(runs + 2):
                for name in ("hand", "flow") if n % 2 == 0 else ("flow", "hand"):
                    text = f"{name} run {n} at {time.time()}"
                    cpu_before = cpu_by_kind()
                    started = time.perf_counter()
                    if name == "hand":
                        await hand_written(page, site.origin, text)
                    else:
                        await through_engine(page, origins, text)
                    elapsed = (time.perf_counter() - started) * 1000
                    if n >= 2:  # the first rounds warm caches
                        timings[name].append(elapsed)
                        cpu[name].update(cpu_by_kind())
                        cpu[name].subtract(cpu_before)
            await browser.close()
        assert len(site.posts) == 2 * (runs + 2)
    hand = statistics.median(timings["hand"])
    flow = statistics.median(timings["flow"])
    print(f"X post on the look-alike site, {runs} interleaved runs each, one page")
    print(f"  hand-written Playwright   median {hand:7.1f} ms")
    print(f"  Bredgio engine + executor median {flow:7.1f} ms")
    print(f"  ratio flow / hand = {flow / hand:.3f}   (target <= 1.10)")
    print("CPU per post, ms (Chromium: all its processes)")
    labels = {"hand": "hand-written Playwright  ", "flow": "Bredgio engine + executor"}
    for name, label in labels.items():
        figures = ", ".join(f"{kind} {cpu[name][kind] * 1000 / runs:.1f}" for kind in KINDS)
        print(f"  {label} {figures}")
    print(f"  Chromium flow / hand = {cpu['flow']['Chromium'] / cpu['hand']['Chromium']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    asyncio.run(main(parser.parse_args().runs))
