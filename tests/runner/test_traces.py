"""Per-task traces on a warm browser that never closes: every task gets a trace that opens
in the viewer, and the files Playwright keeps for the running trace stay bounded."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Playwright

from api.artifacts import trace_path
from api.config import Settings
from api.context import AppContext
from api.services.execution import TaskRun
from runner import execute
from runner.execute import TaskRunner
from runner.pool import BrowserPool
from tests.fixtures.browser import CHROMIUM_PATH, playwright_driver

__all__ = ["playwright_driver"]  # fixture shared from tests/fixtures/browser.py


def _run(task_id: str) -> TaskRun:
    return TaskRun(
        task_id=task_id,
        agent_id="agent1",
        user_id="user",
        action="post",
        platform="twitter",
        params={},
        attempt=1,
        timeout_sec=60,
        browser={},
        passed_point_of_no_return=False,
    )


def _files(directory: Path) -> int:
    return sum(1 for path in directory.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Traced:
    settings: Settings
    pool: BrowserPool
    runner: TaskRunner


@pytest.fixture
async def traced(playwright_driver: Playwright, tmp_path: Path) -> AsyncIterator[Traced]:
    """A TaskRunner on a real browser pool (no database, Redis or flow needed to trace)."""
    settings = Settings(
        data_dir=tmp_path / "data", secret_key="x" * 32, redis_url="redis://127.0.0.1:1/0"
    )
    context = AppContext.create(settings, migrate=False)
    pool = BrowserPool(
        playwright_driver, profiles_root=tmp_path / "profiles", executable_path=CHROMIUM_PATH
    )
    try:
        yield Traced(settings, pool, TaskRunner(context, pool))
    finally:
        await pool.close()
        context.db.dispose()


async def test_a_warm_browsers_trace_restarts_and_its_files_stay_bounded(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "TRACE_RESTART_TASKS", 3)
    pool, runner = traced.pool, traced.runner
    files_after: list[int] = []
    async with pool.session("agent1") as browser:
        traces_dir = browser.traces_dir
        page = await browser.page()
        for n in range(8):
            assert await runner._start_trace(browser, snapshots=n == 4)
            await page.set_content(f"<button>task {n}</button>")
            await page.click("button")
            await runner._stop_trace(_run(f"task{n}"), browser)
            files_after.append(_files(traces_dir))
        assert traces_dir.is_dir()
    await pool.close_if_idle("agent1")
    assert not traces_dir.exists(), "the browser's trace files go with it"

    # Without the restarts every task adds its files: 8 tasks would hold about three
    # times what 3 do.
    assert max(files_after) <= max(files_after[:3]), files_after
    assert files_after[2] < files_after[1], "the third task restarted the trace"
    for n in range(8):
        with zipfile.ZipFile(trace_path(traced.settings.artifacts_dir, f"task{n}")) as trace:
            events = trace.read("trace.trace").decode()
        # Each trace holds its own task's actions, and only those.
        assert f"<button>task {n}</button>" in events, n
        assert f"<button>task {n - 1}</button>" not in events, n


async def test_a_trace_holds_no_call_stacks_of_other_browsers(traced: Traced) -> None:
    # One Playwright driver serves all of a runner's browsers. Its client sends every
    # call's Python stack to the driver while any trace records, and the driver adds it
    # to every open trace: agent1's trace would hold agent2's calls. Traces go without
    # client stacks.
    pool, runner = traced.pool, traced.runner
    async with pool.session("agent1") as first, pool.session("agent2") as second:
        pages = [await first.page(), await second.page()]
        for browser in (first, second):
            assert await runner._start_trace(browser, snapshots=False)
        for n in range(2):  # the second round runs in chunks opened by start_chunk
            for page, name in zip(pages, ("mine", "other"), strict=True):
                await page.set_content(f"<button>{name} {n}</button>")
                await page.click("button")
            await runner._stop_trace(_run(f"mine{n}"), first)
            await runner._stop_trace(_run(f"other{n}"), second)

    for n in range(2):
        with zipfile.ZipFile(trace_path(traced.settings.artifacts_dir, f"mine{n}")) as trace:
            assert "trace.stacks" not in trace.namelist(), n
            events = trace.read("trace.trace").decode()
        assert f"<button>mine {n}</button>" in events
        assert "<button>other" not in events
