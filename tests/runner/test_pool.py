"""The warm browser pool, with real Chromium processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Playwright

from profiles import (
    BrowserSettings,
    ProfileLease,
    browser_pid,
    launch_options,
    pid_alive,
    processes_under,
    profile_dir,
)
from runner.pool import (
    TRACES_PREFIX,
    AgentBusy,
    BrowserPool,
    PoolClosed,
    PoolFull,
    ProfileBusy,
)
from tests.fixtures.browser import CHROMIUM_PATH, playwright_driver

__all__ = ["playwright_driver"]  # fixture shared from tests/fixtures/browser.py


@pytest.fixture
def profiles_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "profiles"
    root.mkdir()
    yield root
    assert processes_under(root) == [], "a test left Chromium running"


PoolFactory = Callable[..., AbstractAsyncContextManager[BrowserPool]]


@pytest.fixture
def make_pool(playwright_driver: Playwright, profiles_root: Path) -> PoolFactory:
    """``async with make_pool(max_browsers=...) as pool:`` a pool on ``profiles_root``,
    closed when the block ends."""

    @asynccontextmanager
    async def pool_factory(
        *, max_browsers: int = 2, idle_close_s: float = 60.0, acquire_timeout_s: float = 10.0
    ) -> AsyncIterator[BrowserPool]:
        pool = BrowserPool(
            playwright_driver,
            profiles_root=profiles_root,
            executable_path=CHROMIUM_PATH,
            max_browsers=max_browsers,
            idle_close_s=idle_close_s,
            acquire_timeout_s=acquire_timeout_s,
        )
        try:
            yield pool
        finally:
            await pool.close()

    return pool_factory


async def _use(pool: BrowserPool, agent: str, settings: BrowserSettings | None = None) -> int:
    """One short session; returns the browser pid."""
    async with pool.session(agent, settings) as browser:
        page = await browser.page()
        assert await page.evaluate("1 + 1") == 2
        assert browser.pid is not None
        return browser.pid


async def _wait_until(condition: object, timeout_s: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_session_reuses_the_warm_browser(make_pool: PoolFactory) -> None:
    async with make_pool() as pool:
        async with pool.session("agent1") as browser:
            first_context = browser.context
            page = await browser.page()
            await page.goto("data:text/html,<p id=marker>kept</p>")
            assert pool.stats().busy == 1
            assert browser.launch_s > 0

        assert pool.stats().busy == 0
        async with pool.session("agent1") as again:
            assert again.context is first_context
            assert again.sessions == 2
            page = await again.page()
            assert await page.text_content("#marker") == "kept"

        stats = pool.stats()
        assert (stats.open, stats.busy) == (1, 0)
        assert stats.pids == {"agent1": browser_pid(profile_dir(pool.profiles_root, "agent1"))}


async def test_page_is_reopened_when_closed(make_pool: PoolFactory) -> None:
    async with make_pool() as pool, pool.session("agent1") as browser:
        page = await browser.page()
        assert await browser.page() is page
        await page.close()
        reopened = await browser.page()
        assert reopened is not page and not reopened.is_closed()


async def test_changed_settings_relaunch_the_browser(make_pool: PoolFactory) -> None:
    small = BrowserSettings.model_validate({"viewport": {"width": 800, "height": 600}})
    large = BrowserSettings.model_validate({"viewport": {"width": 1200, "height": 900}})
    async with make_pool() as pool:
        first_pid = await _use(pool, "agent1", small)
        assert await _use(pool, "agent1", small) == first_pid

        async with pool.session("agent1", large) as browser:
            assert browser.pid != first_pid
            page = await browser.page()
            assert await page.evaluate("[innerWidth, innerHeight]") == [1200, 900]
        assert not pid_alive(first_pid)
        assert pool.stats().open == 1


async def test_full_pool_evicts_the_least_recently_used_idle_browser(
    make_pool: PoolFactory,
) -> None:
    async with make_pool(max_browsers=2) as pool:
        pid1 = await _use(pool, "agent1")
        pid2 = await _use(pool, "agent2")
        await _use(pool, "agent1")  # agent2 is now the least recently used

        pid3 = await _use(pool, "agent3")

        assert set(pool.stats().pids) == {"agent1", "agent3"}
        assert not pid_alive(pid2)
        assert pid_alive(pid1) and pid_alive(pid3)
        lease = ProfileLease(pool.profiles_root, "agent2")
        assert lease.try_acquire(), "an evicted browser gives its profile lease back"
        lease.release()


async def test_full_pool_waits_for_a_busy_browser_then_gives_up(
    make_pool: PoolFactory,
) -> None:
    async with make_pool(max_browsers=1, acquire_timeout_s=0.5) as pool:
        async with pool.session("agent1"):
            started = time.monotonic()
            with pytest.raises(PoolFull):
                async with pool.session("agent2"):
                    pass
            assert time.monotonic() - started >= 0.5

        # Once agent1's session ends, a waiting agent gets its slot.
        release = asyncio.Event()

        async def hold_agent1() -> None:
            async with pool.session("agent1"):
                await release.wait()

        holder = asyncio.create_task(hold_agent1())
        await _wait_until(lambda: pool.stats().busy == 1)
        asyncio.get_running_loop().call_later(0.2, release.set)
        async with pool.session("agent2") as browser:
            assert browser.agent_id == "agent2"
        await holder
        assert set(pool.stats().pids) == {"agent2"}


async def test_one_session_per_agent_at_a_time(make_pool: PoolFactory) -> None:
    async with make_pool(acquire_timeout_s=0.3) as pool:
        order: list[str] = []
        release_first = asyncio.Event()

        async def first_session() -> None:
            async with pool.session("agent1"):
                order.append("first in")
                await release_first.wait()

        first = asyncio.create_task(first_session())
        await _wait_until(lambda: order == ["first in"])
        with pytest.raises(AgentBusy):
            async with pool.session("agent1"):
                pass
        release_first.set()
        await first

        pool.acquire_timeout_s = 10

        async def session(name: str) -> None:
            async with pool.session("agent1"):
                order.append(f"{name} in")
                await asyncio.sleep(0.1)
                order.append(f"{name} out")

        await asyncio.gather(session("a"), session("b"))
        assert order[1:] in (
            ["a in", "a out", "b in", "b out"],
            ["b in", "b out", "a in", "a out"],
        )


async def test_idle_browsers_are_closed(make_pool: PoolFactory) -> None:
    async with make_pool(idle_close_s=0.3) as pool:
        pid = await _use(pool, "agent1")
        async with pool.session("agent2"):
            await _wait_until(lambda: "agent1" not in pool.stats().pids)
            # The pool forgets the browser first, then shuts its process tree down.
            await _wait_until(lambda: not pid_alive(pid))
            await asyncio.sleep(0.5)  # longer than idle_close_s, but agent2 is busy
            assert set(pool.stats().pids) == {"agent2"}
        await _wait_until(lambda: pool.stats().open == 0)
        await _wait_until(lambda: processes_under(pool.profiles_root) == [])


async def test_killed_browser_is_relaunched_on_next_session(make_pool: PoolFactory) -> None:
    async with make_pool() as pool:
        pid = await _use(pool, "agent1")
        os.kill(pid, signal.SIGKILL)
        await _wait_until(lambda: not pid_alive(pid))

        async with pool.session("agent1") as browser:
            assert browser.pid not in (None, pid)
            assert browser.sessions == 1
            page = await browser.page()
            assert await page.evaluate("navigator.userAgent")

        # Killed in the middle of a session: the session ends, the next one relaunches.
        async with pool.session("agent1") as browser:
            crashed_pid = browser.pid
            assert crashed_pid is not None
            os.kill(crashed_pid, signal.SIGKILL)
            await _wait_until(lambda: not browser.alive)
        assert pool.stats().open == 0
        assert await _use(pool, "agent1") not in (pid, crashed_pid)


async def test_close_leaves_no_chromium_behind(make_pool: PoolFactory) -> None:
    async with make_pool() as pool:
        await _use(pool, "agent1")
        in_session = asyncio.Event()
        release = asyncio.Event()

        async def busy_session() -> None:
            async with pool.session("agent2"):
                in_session.set()
                await release.wait()

        busy = asyncio.create_task(busy_session())
        await in_session.wait()
        tree = [pid for agent in ("agent1", "agent2") for pid in _tree(pool, agent)]
        assert len(tree) > 4, "each browser runs several processes"

        await pool.close()

        assert processes_under(pool.profiles_root) == []
        assert not any(pid_alive(pid) for pid in tree)
        assert pool.stats().open == 0
        release.set()
        await busy
        with pytest.raises(PoolClosed):
            async with pool.session("agent1"):
                pass


def _trace_temp_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("playwright-tracing-*"))


async def test_a_traced_browser_keeps_its_trace_files_in_its_own_dir(
    make_pool: PoolFactory,
) -> None:
    """Playwright keeps a recording trace's files until the browser closes, by default
    in temp dirs it may leave behind; each pooled browser gets a directory of its own
    instead, removed when the browser closes. A warm browser always has the next task's
    chunk open."""
    before = _trace_temp_dirs()
    async with make_pool() as pool:
        async with pool.session("agent1") as browser:
            traces_dir = browser.traces_dir
            await browser.context.tracing.start(snapshots=False, sources=False)
            page = await browser.page()
            await page.set_content("<button>one</button>")
            await browser.context.tracing.stop_chunk(path=str(traces_dir.parent / "one.zip"))
            await browser.context.tracing.start_chunk()
            assert any(traces_dir.iterdir()), "the trace's files are in the browser's dir"
        await pool.close_if_idle("agent1")
        assert not traces_dir.exists()
        assert _trace_temp_dirs() - before == set()
        # A browser that was never traced has its (empty) dir removed as well.
        async with pool.session("agent2") as browser:
            untraced = browser.traces_dir
        await pool.close()
        assert not untraced.exists()


async def test_reap_orphans_removes_the_trace_dirs_of_dead_runners(
    make_pool: PoolFactory,
) -> None:
    finished = await asyncio.create_subprocess_exec("true")
    await finished.wait()
    tmp = Path(tempfile.gettempdir())
    dead = tmp / f"{TRACES_PREFIX}{finished.pid}-test"
    live = tmp / f"{TRACES_PREFIX}{os.getppid()}-test"
    for root in (dead, live):
        (root / "agent1-x").mkdir(parents=True)
        (root / "agent1-x" / "chunk1.trace").write_text("{}")
    try:
        async with make_pool() as pool:
            await pool.reap_orphans()
        assert not dead.exists()
        assert (live / "agent1-x" / "chunk1.trace").exists()
    finally:
        shutil.rmtree(dead, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


async def test_cancelled_sessions_leave_no_browser_and_no_lost_slot(
    make_pool: PoolFactory,
) -> None:
    async with make_pool(max_browsers=1) as pool:
        # Cancelled while Chromium is starting.
        starting = asyncio.create_task(_use(pool, "agent1"))
        await _wait_until(lambda: pool.stats().slots_used == 1)
        await asyncio.sleep(0.05)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        await _wait_until(lambda: processes_under(pool.profiles_root) == [], timeout_s=10)
        await _wait_until(lambda: pool.stats().slots_used == 0)
        assert pool.stats().open == 0

        # Cancelled while waiting for the only slot.
        release = asyncio.Event()

        async def hold() -> None:
            async with pool.session("agent2"):
                await release.wait()

        holder = asyncio.create_task(hold())
        await _wait_until(lambda: pool.stats().busy == 1)
        waiting = asyncio.create_task(_use(pool, "agent3"))
        await asyncio.sleep(0.2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await holder

        # The slot and agent1's profile lease are free again.
        assert await _use(pool, "agent1")
        assert set(pool.stats().pids) == {"agent1"}


async def test_reap_orphans_kills_only_unleased_profiles(
    playwright_driver: Playwright, make_pool: PoolFactory, profiles_root: Path
) -> None:
    options = launch_options(BrowserSettings(), executable_path=CHROMIUM_PATH)
    # An orphan of a dead runner, and a browser another live runner (lease holder) owns.
    orphan = await playwright_driver.chromium.launch_persistent_context(
        profile_dir(profiles_root, "orphan"), **options
    )
    owned = await playwright_driver.chromium.launch_persistent_context(
        profile_dir(profiles_root, "owned"), **options
    )
    other_runner = ProfileLease(profiles_root, "owned")
    assert other_runner.try_acquire()
    try:
        orphan_pid = browser_pid(profile_dir(profiles_root, "orphan"))
        owned_pid = browser_pid(profile_dir(profiles_root, "owned"))
        async with make_pool() as pool:
            killed = await pool.reap_orphans()
            assert orphan_pid in killed
            assert owned_pid not in killed
            assert not pid_alive(orphan_pid or 0)
            assert pid_alive(owned_pid or 0)
            # The orphan's profile is usable again at once.
            await _use(pool, "orphan")
    finally:
        other_runner.release()
        await owned.close()
        await orphan.close()


async def test_profile_leased_elsewhere_is_not_launched(make_pool: PoolFactory) -> None:
    async with make_pool(acquire_timeout_s=0.3) as pool:
        other_runner = ProfileLease(pool.profiles_root, "agent1")
        assert other_runner.try_acquire()
        try:
            with pytest.raises(ProfileBusy):
                await _use(pool, "agent1")
        finally:
            other_runner.release()
        await _use(pool, "agent1")


async def test_stale_lock_from_a_dead_container_does_not_block_launch(
    make_pool: PoolFactory,
) -> None:
    async with make_pool() as pool:
        profile = profile_dir(pool.profiles_root, "agent1")
        profile.mkdir()
        os.symlink("old-container-77", profile / "SingletonLock")
        await _use(pool, "agent1")


async def test_memory_of_each_browser_is_measured(make_pool: PoolFactory) -> None:
    async with make_pool() as pool:
        await _use(pool, "agent1")
        pss = pool.memory_pss()
        assert set(pss) == {"agent1"}
        assert 20 * 2**20 < pss["agent1"] < 2 * 2**30


def _tree(pool: BrowserPool, agent: str) -> list[int]:
    browser = pool.browser(agent)
    assert browser is not None
    return browser.pids()
