"""The warm browser pool: the one owner of every Chromium this runner starts.

Each agent has one persistent Chromium profile; the pool keeps the agent's browser open
between tasks (a warm start is a page away, a cold start costs a launch), caps how many
run at once, and makes sure none outlives its use::

    pool = BrowserPool(playwright, profiles_root=root, max_browsers=4)
    await pool.reap_orphans()
    async with pool.session("agent_1", settings) as browser:
        page = await browser.page()
        ...
    await pool.close()

- One session per agent at a time; a second ``session()`` for the agent waits.
- At ``max_browsers`` open, a new agent evicts the least recently used idle browser, or
  waits up to ``acquire_timeout_s`` for one to become idle, then raises ``PoolFull``.
- A background task closes browsers idle for ``idle_close_s``.
- A browser that crashed or was killed is noticed (the context's ``close`` event, or its
  pid gone) and relaunched by the next session; one whose settings changed is relaunched.
- Closing is done in a safe order: forget the browser, close its context, kill whatever
  is left of its process tree, then give the profile lease back.
- Each browser records its Playwright traces in a directory of its own
  (``PooledBrowser.traces_dir``), removed when the browser closes; ``reap_orphans()``
  removes those of dead runners. Playwright keeps every chunk's files there until the
  trace stops, so whoever traces a long-lived browser should restart the trace now and
  then and empty the directory (see ``runner.execute``).

The pool holds each open profile's lease (``profiles.ProfileLease``), so two runners on
one host never share a profile, and clears Chromium's stale ``SingletonLock`` before
launching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from profiles import (
    DEFAULT_CHROMIUM_PATH,
    BrowserSettings,
    InvalidAgentId,
    LeaseTimeout,
    ProfileInUse,
    ProfileLease,
    browser_pid,
    check_agent_id,
    clear_stale_singleton,
    launch_options,
    pid_alive,
    processes_for_profile,
    processes_under,
    profile_dir,
)
from runner.processes import browser_tree, kill_and_wait, kill_now, pss_bytes

log = logging.getLogger(__name__)


class PoolError(Exception):
    """Base class for the pool's errors."""


class PoolFull(PoolError):
    """Every browser slot stayed busy for ``acquire_timeout_s``."""


class AgentBusy(PoolError):
    """The agent's previous session did not end within ``acquire_timeout_s``."""


class ProfileBusy(PoolError):
    """Another process on this host holds the agent's profile lease."""


class LaunchFailed(PoolError):
    """Chromium did not start on the agent's profile."""


class PoolClosed(PoolError):
    """The pool is closed (or closing)."""


BrowserState = Literal["open", "closing", "closed"]


class PooledBrowser:
    """One agent's running Chromium: its persistent context and its working page."""

    def __init__(
        self,
        *,
        agent_id: str,
        profile: Path,
        settings: BrowserSettings,
        context: BrowserContext,
        lease: ProfileLease,
        pid: int | None,
        launch_s: float,
        traces_dir: Path,
    ) -> None:
        self.agent_id = agent_id
        self.profile = profile
        self.settings = settings
        self.context = context
        self.pid = pid
        self.launch_s = launch_s
        """How long ``launch_persistent_context`` took, in seconds."""
        self.traces_dir = traces_dir
        """Where Playwright writes this browser's trace files (removed on close)."""
        self.launched_at = time.time()
        self.last_used = time.monotonic()
        self.busy = False
        self.state: BrowserState = "open"
        self.sessions = 1
        """How many sessions this browser has served (1 = it was launched for this one)."""
        self.close_after_session = False
        """Set inside a session to close the browser cleanly when it ends (Chromium
        writes cookies to disk only periodically or on a clean close)."""
        self._lease = lease
        self._page: Page | None = None
        self._disconnected = False
        context.on("close", self._on_close)

    def empty_traces_dir(self) -> None:
        """Delete the files of a stopped trace (a running one still needs them)."""
        for entry in self.traces_dir.iterdir() if self.traces_dir.is_dir() else ():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def _on_close(self, _context: BrowserContext) -> None:
        self._disconnected = True

    @property
    def alive(self) -> bool:
        """Whether the browser is still running and connected."""
        if self.state != "open" or self._disconnected:
            return False
        return self.pid is None or pid_alive(self.pid)

    async def page(self) -> Page:
        """The agent's one working page, opened again if it was closed."""
        if self._page is not None and not self._page.is_closed():
            return self._page
        open_pages = [page for page in self.context.pages if not page.is_closed()]
        self._page = open_pages[0] if open_pages else await self.context.new_page()
        return self._page

    def pids(self) -> list[int]:
        """The browser's live process tree."""
        return browser_tree(self.pid, self.profile)

    def __repr__(self) -> str:
        return f"<PooledBrowser {self.agent_id} pid={self.pid} state={self.state} busy={self.busy}>"


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool."""

    open: int
    busy: int
    slots_used: int
    """Open browsers plus those starting or shutting down."""
    max_browsers: int
    pids: dict[str, int | None]
    """Browser pid per agent with an open browser."""


class BrowserPool:
    """Owns every browser this runner starts. See the module docstring."""

    def __init__(
        self,
        playwright: Playwright,
        *,
        profiles_root: str | Path,
        executable_path: str = DEFAULT_CHROMIUM_PATH,
        max_browsers: int = 4,
        idle_close_s: float = 300.0,
        acquire_timeout_s: float = 60.0,
        headless: bool = True,
        extra_args: Iterable[str] = (),
        launch_timeout_s: float = 30.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        if max_browsers < 1:
            raise ValueError("max_browsers must be at least 1")
        self.profiles_root = Path(profiles_root).resolve()
        self.executable_path = executable_path
        self.max_browsers = max_browsers
        self.idle_close_s = idle_close_s
        self.acquire_timeout_s = acquire_timeout_s
        self.headless = headless
        self.extra_args = tuple(extra_args)
        self.launch_timeout_s = launch_timeout_s
        self.close_timeout_s = close_timeout_s
        self._playwright = playwright
        self._browsers: dict[str, PooledBrowser] = {}
        # Agents with a session, or whose browser the pool is closing: nobody else may
        # touch their browser meanwhile.
        self._reserved: set[str] = set()
        # Open browsers plus those being launched or closed; never above max_browsers.
        self._slots_used = 0
        # All bookkeeping above changes without awaiting; waiters sleep on this event,
        # which is set (and replaced) after every change.
        self._change = asyncio.Event()
        self._shutdowns: set[asyncio.Task[None]] = set()
        self._closed = False
        self._idle_task: asyncio.Task[None] | None = None
        # Holds one directory of trace files per launched browser; made on first launch.
        self._traces_root: Path | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the idle-close task (``session()`` also starts it on first use)."""
        if self._closed:
            raise PoolClosed("the pool is closed")
        if self._idle_task is None:
            self._idle_task = asyncio.create_task(self._idle_loop(), name="browser-pool-idle")

    async def __aenter__(self) -> BrowserPool:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every browser, busy or not, and stop the idle task; return once all
        are gone. Sessions still running see their browser disappear; new sessions
        raise ``PoolClosed``."""
        self._closed = True
        self._changed()
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        browsers = list(self._browsers.values())
        await asyncio.gather(*(self._close_browser(browser) for browser in browsers))
        # A launch still in flight closes its browser itself when it sees the pool closed.
        deadline = time.monotonic() + self.launch_timeout_s + self.close_timeout_s
        while self._slots_used > 0 and await self._wait_for_change(deadline):
            pass
        if self._shutdowns:
            await asyncio.gather(*self._shutdowns, return_exceptions=True)
        if self._traces_root is not None:
            shutil.rmtree(self._traces_root, ignore_errors=True)

    async def reap_orphans(self) -> list[int]:
        """Kill Chromium processes left on profiles under ``profiles_root`` by a runner
        that died, and remove the trace directories of dead runners' pools. A profile
        whose lease a live process holds is left alone, so runners sharing the profiles
        on one host never kill each other's browsers. Returns the pids killed."""
        by_profile: dict[Path, list[int]] = {}
        for proc in processes_under(self.profiles_root):
            by_profile.setdefault(proc.user_data_dir, []).append(proc.pid)
        killed: list[int] = []
        for profile, pids in by_profile.items():
            agent_id = profile.name
            if agent_id in self._browsers or agent_id in self._reserved:
                continue
            try:
                lease = ProfileLease(self.profiles_root, agent_id)
            except InvalidAgentId:
                continue
            if not lease.try_acquire():
                continue
            try:
                killed += await kill_and_wait(pids)
                with contextlib.suppress(ProfileInUse):
                    clear_stale_singleton(profile)
            finally:
                lease.release()
        if killed:
            log.warning("killed %d orphaned Chromium processes: %s", len(killed), killed)
        _remove_dead_runners_traces()
        return killed

    # -- sessions --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(
        self, agent_id: str, settings: BrowserSettings | None = None
    ) -> AsyncIterator[PooledBrowser]:
        """Use the agent's browser exclusively for the ``async with`` block.

        Reuses the agent's open browser when its settings are unchanged, else launches
        one. Raises ``AgentBusy``, ``PoolFull``, ``ProfileBusy`` (all after
        ``acquire_timeout_s``), ``LaunchFailed`` or ``PoolClosed``.
        """
        check_agent_id(agent_id)
        settings = settings if settings is not None else BrowserSettings()
        deadline = time.monotonic() + self.acquire_timeout_s
        self.start()
        await self._reserve_agent(agent_id, deadline)
        browser: PooledBrowser | None = None
        try:
            browser = await self._checkout(agent_id, settings, deadline)
            yield browser
        finally:
            if browser is not None:
                browser.busy = False
                browser.last_used = time.monotonic()
                if not browser.alive or browser.close_after_session:
                    await self._close_browser(browser)
            self._reserved.discard(agent_id)
            self._changed()

    async def _reserve_agent(self, agent_id: str, deadline: float) -> None:
        while True:
            if self._closed:
                raise PoolClosed("the pool is closed")
            if agent_id not in self._reserved:
                self._reserved.add(agent_id)
                return
            if not await self._wait_for_change(deadline):
                raise AgentBusy(f"agent {agent_id!r} is still in another session")

    async def _checkout(
        self, agent_id: str, settings: BrowserSettings, deadline: float
    ) -> PooledBrowser:
        """With the agent reserved: return its warm browser, or launch one in a slot."""
        current = self._browsers.get(agent_id)
        if current is not None:
            if current.alive and current.settings == settings:
                current.busy = True
                current.sessions += 1
                return current
            reason = "settings changed" if current.alive else "browser died"
            log.info("relaunching browser of %s: %s", agent_id, reason)
            await self._close_browser(current)

        await self._take_slot(deadline)
        try:
            browser = await self._launch(agent_id, settings, deadline)
        except BaseException:
            self._free_slot()
            raise
        browser.busy = True
        self._browsers[agent_id] = browser
        if self._closed:
            await self._close_browser(browser)
            raise PoolClosed("the pool was closed while the browser started")
        return browser

    async def _take_slot(self, deadline: float) -> None:
        """Count one more browser, evicting the least recently used idle one if full."""
        while True:
            if self._closed:
                raise PoolClosed("the pool is closed")
            if self._slots_used < self.max_browsers:
                self._slots_used += 1
                return
            victim = self._least_recently_used_idle()
            if victim is not None:
                log.info("evicting idle browser of %s", victim.agent_id)
                self._reserved.add(victim.agent_id)
                try:
                    await self._close_browser(victim)
                finally:
                    self._reserved.discard(victim.agent_id)
                    self._changed()
            elif not await self._wait_for_change(deadline):
                raise PoolFull(f"all {self.max_browsers} browsers stayed busy")

    def _least_recently_used_idle(self) -> PooledBrowser | None:
        idle = [b for b in self._browsers.values() if b.agent_id not in self._reserved]
        if not idle:
            return None
        # A dead browser is the cheapest to lose.
        return min(idle, key=lambda b: (b.alive, b.last_used))

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _wait_for_change(self, deadline: float) -> bool:
        """Sleep until the next bookkeeping change or ``deadline``; False on timeout."""
        change = self._change
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):
                await change.wait()
        except TimeoutError:
            return False
        return True

    def _free_slot(self) -> None:
        self._slots_used -= 1
        self._changed()

    # -- launch and close ------------------------------------------------------------

    async def _launch(
        self, agent_id: str, settings: BrowserSettings, deadline: float
    ) -> PooledBrowser:
        profile = profile_dir(self.profiles_root, agent_id)
        lease = ProfileLease(self.profiles_root, agent_id)
        try:
            await lease.acquire(max(0.0, deadline - time.monotonic()))
        except LeaseTimeout as exc:
            raise ProfileBusy(str(exc)) from exc
        try:
            profile.mkdir(parents=True, exist_ok=True)
            # We hold the lease, so any Chromium still on the profile is an orphan.
            await kill_and_wait(proc.pid for proc in processes_for_profile(profile))
            clear_stale_singleton(profile)
        except BaseException as exc:
            lease.release()
            if isinstance(exc, ProfileInUse):
                raise LaunchFailed(f"profile of {agent_id!r} is still in use: {exc}") from exc
            raise
        options = launch_options(
            settings,
            executable_path=self.executable_path,
            headless=self.headless,
            extra_args=self.extra_args,
        )
        traces_dir = self._new_traces_dir(agent_id)
        started = time.monotonic()
        launching = asyncio.create_task(
            self._playwright.chromium.launch_persistent_context(
                profile,
                timeout=self.launch_timeout_s * 1000,
                traces_dir=traces_dir,
                **options,
            )
        )
        try:
            context = await asyncio.shield(launching)
        except asyncio.CancelledError:
            # Let the launch finish out of sight, then close whatever it started.
            self._track(self._discard_launch(launching, profile, lease, traces_dir))
            raise
        except BaseException as exc:
            kill_now(proc.pid for proc in processes_for_profile(profile))
            shutil.rmtree(traces_dir, ignore_errors=True)
            lease.release()
            if isinstance(exc, PlaywrightError):
                raise LaunchFailed(f"Chromium failed to start for {agent_id!r}: {exc}") from exc
            raise
        launch_s = time.monotonic() - started
        log.info("launched browser for %s in %.0f ms", agent_id, launch_s * 1000)
        return PooledBrowser(
            agent_id=agent_id,
            profile=profile,
            settings=settings,
            context=context,
            lease=lease,
            pid=browser_pid(profile),
            launch_s=launch_s,
            traces_dir=traces_dir,
        )

    def _new_traces_dir(self, agent_id: str) -> Path:
        """An empty directory for one launch's trace files, in this pool's own
        temporary directory."""
        if self._traces_root is None:
            self._traces_root = Path(tempfile.mkdtemp(prefix=f"{TRACES_PREFIX}{os.getpid()}-"))
        return Path(tempfile.mkdtemp(prefix=f"{agent_id}-", dir=self._traces_root))

    async def _discard_launch(
        self,
        launching: asyncio.Task[BrowserContext],
        profile: Path,
        lease: ProfileLease,
        traces_dir: Path,
    ) -> None:
        """Close the browser of a launch whose caller gave up, then release its lease."""
        try:
            try:
                context = await launching
            except PlaywrightError:
                pass
            else:
                with contextlib.suppress(PlaywrightError, TimeoutError):
                    async with asyncio.timeout(self.close_timeout_s):
                        await context.close()
            await kill_and_wait(proc.pid for proc in processes_for_profile(profile))
        finally:
            shutil.rmtree(traces_dir, ignore_errors=True)
            lease.release()

    def _track(self, cleanup: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``cleanup`` in its own task, which ``close()`` waits for."""
        task = asyncio.create_task(cleanup)
        self._shutdowns.add(task)
        task.add_done_callback(self._shutdowns.discard)
        return task

    async def _close_browser(self, browser: PooledBrowser) -> None:
        """Forget the browser, then shut it down and free its slot.

        The shutdown runs in its own task, so a caller that is cancelled meanwhile
        cannot leave a half-closed browser or a slot that is never freed.
        """
        if browser.state != "open":
            return
        browser.state = "closing"
        if self._browsers.get(browser.agent_id) is browser:
            del self._browsers[browser.agent_id]
        await asyncio.shield(self._track(self._shutdown(browser)))

    async def _shutdown(self, browser: PooledBrowser) -> None:
        """Close the context, kill what is left of the process tree, release the
        profile lease, free the slot."""
        try:
            known_pids = browser_tree(browser.pid, browser.profile)
            try:
                async with asyncio.timeout(self.close_timeout_s):
                    await browser.context.close()
            except (PlaywrightError, TimeoutError) as exc:
                log.warning("closing browser of %s failed: %s", browser.agent_id, exc)
            leftovers = set(known_pids) | set(browser_tree(browser.pid, browser.profile))
            await kill_and_wait(leftovers)
        finally:
            shutil.rmtree(browser.traces_dir, ignore_errors=True)
            browser._lease.release()
            browser.state = "closed"
            self._free_slot()

    # -- idle close ------------------------------------------------------------------

    async def close_idle(self) -> list[str]:
        """Close browsers idle for ``idle_close_s`` and dead ones nobody is using.
        Returns their agent ids. The background task calls this periodically."""
        now = time.monotonic()
        stale = [
            browser
            for browser in self._browsers.values()
            if browser.agent_id not in self._reserved
            and (now - browser.last_used >= self.idle_close_s or not browser.alive)
        ]
        self._reserved.update(browser.agent_id for browser in stale)
        try:
            await asyncio.gather(*(self._close_browser(browser) for browser in stale))
        finally:
            self._reserved.difference_update(browser.agent_id for browser in stale)
            self._changed()
        for browser in stale:
            log.info("closed idle browser of %s", browser.agent_id)
        return [browser.agent_id for browser in stale]

    def open_agents(self) -> list[str]:
        """Agents whose browser is open (idle or in a session)."""
        return list(self._browsers)

    def idle_agents(self) -> list[str]:
        """Agents whose browser is open and in no session."""
        return [agent_id for agent_id in self._browsers if agent_id not in self._reserved]

    async def close_if_idle(self, agent_id: str) -> bool:
        """Close the agent's browser now if it is open and in no session, which gives
        its profile lease back (another runner needs the profile). Returns whether it
        did."""
        browser = self._browsers.get(agent_id)
        if browser is None or agent_id in self._reserved:
            return False
        self._reserved.add(agent_id)
        try:
            await self._close_browser(browser)
        finally:
            self._reserved.discard(agent_id)
            self._changed()
        return True

    async def _idle_loop(self) -> None:
        interval_s = min(max(self.idle_close_s / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.close_idle()
            except Exception:
                log.exception("idle browser sweep failed")

    # -- introspection ---------------------------------------------------------------

    def stats(self) -> PoolStats:
        """Open and busy browser counts and each open browser's pid."""
        browsers = list(self._browsers.values())
        return PoolStats(
            open=len(browsers),
            busy=sum(1 for browser in browsers if browser.busy),
            slots_used=self._slots_used,
            max_browsers=self.max_browsers,
            pids={browser.agent_id: browser.pid for browser in browsers},
        )

    def browser(self, agent_id: str) -> PooledBrowser | None:
        """The agent's open browser, if any (for inspection; use ``session()`` to
        drive it)."""
        return self._browsers.get(agent_id)

    def memory_pss(self) -> dict[str, int]:
        """PSS in bytes of each open browser's whole process tree, per agent."""
        return {agent_id: pss_bytes(browser.pids()) for agent_id, browser in self._browsers.items()}


#: The temporary directories of pools' trace files: ``<prefix><pid>-<random>``.
TRACES_PREFIX = "bredgio-traces-"


def _remove_dead_runners_traces() -> None:
    """Remove the trace directories that pools of dead processes left behind (a runner
    killed with SIGKILL cannot remove its own)."""
    for root in Path(tempfile.gettempdir()).glob(f"{TRACES_PREFIX}*-*"):
        owner = root.name.removeprefix(TRACES_PREFIX).split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not pid_alive(int(owner)):
            shutil.rmtree(root, ignore_errors=True)
