"""Running tasks: claim an agent's next task, lease its browser from the pool, run the
flow through a PlaywrightExecutor, and persist the outcome, a trace and, on failure, a
screenshot of the failing step.

Playwright errors never leave this package: the executor translates command errors, and
this module maps the pool's errors to task error codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from playwright.async_api import Error as PlaywrightError
from sqlmodel import Session

from api import artifacts, task_run
from api.context import AppContext
from api.db.models import TaskStatus
from api.services import execution
from api.services.execution import TaskRun
from api.task_sink import DbSink
from flows.context import Origins
from flows.engine import FlowOutcome, run_flow, verify_flow
from flows.sink import LogEntry
from profiles.settings import BrowserSettings
from runner.media import MediaFetcher
from runner.playwright_executor import PlaywrightExecutor
from runner.pool import (
    AgentBusy,
    BrowserPool,
    LaunchFailed,
    PoolClosed,
    PooledBrowser,
    PoolError,
    PoolFull,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Tasks a browser's trace records before it is restarted. Playwright keeps each task's
#: trace files (some 25 KB, 160 KB with DOM snapshots) until the trace stops, so a warm
#: browser that is never idle long enough to close would fill the disk.
TRACE_RESTART_TASKS = 50


class TaskRunner:
    """Runs the tasks of runner agents on this process's browser pool."""

    def __init__(
        self,
        context: AppContext,
        pool: BrowserPool,
        *,
        runner_id: str = "",
        wake_later: Callable[[str, datetime], Awaitable[None]] | None = None,
        max_running: int | None = None,
    ) -> None:
        self.context = context
        self.pool = pool
        self.runner_id = runner_id
        self.wake_later = wake_later
        # Tasks running at once (None: as many as the pool has browsers). A drain claims
        # its agent's next task only once it holds a slot, so a waiting task stays
        # pending, with its queue position, and its timeout has not started.
        self._slots = asyncio.Semaphore(max_running) if max_running else None
        # Agents with a drain in this process → whether another wake-up came meanwhile.
        self._draining: dict[str, bool] = {}
        self.fetch_media = MediaFetcher(context)
        site = context.settings.site_origins
        self.origins = Origins(facebook=site.facebook, twitter=site.twitter)
        # Each tracing context → whether its trace takes DOM snapshots, and the tasks it
        # recorded since the trace started.
        self._tracing: weakref.WeakKeyDictionary[Any, _Trace] = weakref.WeakKeyDictionary()
        # Agents whose last task here failed: their traces take snapshots until one
        # completes (BREDGIO_RUNNER_TRACE_SNAPSHOTS=after_failure).
        self._failing: set[str] = set()

    async def _db(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        return await self.context.db.run(work, write=write)

    async def drain(self, agent_id: str) -> int:
        """Run the agent's runnable tasks one at a time, oldest first; returns how many
        ran. Stops when none is left or the agent cannot run now.

        One drain per agent runs in this process: a wake-up that comes while one runs
        (or waits for a slot) only makes it look again before it stops, so wake-ups
        repeated by the reconciler never pile up waiting drains."""
        if agent_id in self._draining:
            self._draining[agent_id] = True
            return 0
        self._draining[agent_id] = False
        try:
            return await self._drain(agent_id)
        finally:
            del self._draining[agent_id]

    async def _drain(self, agent_id: str) -> int:
        ran = 0
        while True:
            self._draining[agent_id] = False
            async with self._slot():
                claim = await self._db(
                    lambda s: execution.claim(s, agent_id, start=True, runner_id=self.runner_id)
                )
                if claim.run is not None:
                    if not await self.execute(claim.run):
                        return ran
                    ran += 1
                    continue
            if claim.not_before is not None and self.wake_later is not None:
                await self.wake_later(agent_id, claim.not_before)
            # No await between this check and the caller forgetting the drain: a wake-up
            # either got here in time or starts a drain of its own.
            if not self._draining[agent_id]:
                return ran

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """One of the runner's ``max_running`` slots, if it has a limit."""
        return self._slots if self._slots is not None else contextlib.nullcontext()

    async def release_profiles_wanted_elsewhere(self) -> list[str]:
        """Close the idle warm browsers of agents whose next task another runner
        claimed: that runner waits for the profile lease the warm browser holds.
        Returns their agent ids."""
        idle = self.pool.idle_agents()
        if not idle:
            return []
        wanted = await self._db(
            lambda s: execution.agents_claimed_elsewhere(s, idle, self.runner_id), write=False
        )
        return [agent_id for agent_id in wanted if await self.pool.close_if_idle(agent_id)]

    async def execute(self, run: TaskRun) -> bool:
        """Run one claimed task to its end. False when it was handed back because no
        browser could be had right now (the caller should stop draining). The task is
        already ``running`` (claimed with ``start=True``)."""
        try:
            async with DbSink(self.context, run) as sink:
                heartbeat = asyncio.create_task(task_run.keep_lease(self.context, run, sink))
                try:
                    outcome = await self._in_browser(run, sink)
                finally:
                    heartbeat.cancel()
        except _HandedBack:
            return False
        except asyncio.CancelledError:
            # Shutting down (SIGTERM): hand the task back; past its point of no return
            # it keeps the mark, so whoever takes it next verifies instead of posting.
            await asyncio.shield(
                self._db(lambda s: execution.hand_back_claimed(s, run.task_id, run.lease_token))
            )
            raise
        if sink.stop_reason == "lease_lost":
            log.warning("lost the lease of %s; leaving it to its new owner", run.task_id)
            return True
        await task_run.finish(self.context, run, outcome)
        return True

    async def _in_browser(self, run: TaskRun, sink: DbSink) -> FlowOutcome:
        try:
            settings = BrowserSettings.model_validate(run.browser)
            async with self.pool.session(run.agent_id, settings) as browser:
                page = await browser.page()
                tracing = await self._start_trace(browser, self._snapshots(run))
                try:
                    outcome = await self._run_flow(run, page, sink)
                    if outcome.status == "failed":
                        self._failing.add(run.agent_id)
                        await sink.flush()
                        await self._screenshot(run, page)
                    elif outcome.status == "completed":
                        self._failing.discard(run.agent_id)
                finally:
                    if tracing:
                        await self._stop_trace(run, browser)
                return outcome
        except (AgentBusy, PoolFull) as error:
            await sink.log(LogEntry("acquire_browser", "warn", str(error)))
            await sink.flush()
            await self._db(lambda s: _hand_back_running(s, run.task_id))
            raise _HandedBack from error
        except (LaunchFailed, PoolClosed, PoolError) as error:
            code = "browser_unavailable"
            await sink.log(LogEntry("launch_browser", "error", str(error), None, code))
            return FlowOutcome("failed", None, code, str(error))

    async def _run_flow(self, run: TaskRun, page: Any, sink: DbSink) -> FlowOutcome:
        executor = PlaywrightExecutor(page, self.fetch_media)
        flow = verify_flow if run.passed_point_of_no_return else run_flow
        return await flow(
            run.action,
            run.platform,
            await task_run.paced_params(self.context, run),
            executor,
            sink,
            self.origins,
            timeout_s=float(run.timeout_sec),
            timeout_code="task_timeout",
        )

    def _snapshots(self, run: TaskRun) -> bool:
        """Whether this task's trace takes DOM snapshots of every step."""
        policy = self.context.settings.runner_trace_snapshots
        if policy != "after_failure":
            return policy == "always"
        return run.agent_id in self._failing or run.attempt > 1 or run.passed_point_of_no_return

    async def _start_trace(self, browser: PooledBrowser, snapshots: bool) -> bool:
        """Make sure a trace chunk is recording for this task, with or without DOM
        snapshots. A warm browser already has one: each task opens the next task's chunk
        when it ends, which keeps the 10-40 ms that starting a trace or a chunk costs off
        the dispatch path, unless the snapshots setting changes (after a failure)."""
        if not self.context.settings.runner_trace:
            return False
        trace = self._tracing.get(browser.context)
        if trace is not None and trace.snapshots == snapshots:
            return True
        return await self._restart_trace(browser, snapshots)

    async def _restart_trace(self, browser: PooledBrowser, snapshots: bool) -> bool:
        """Start the browser's trace; a running one is stopped first (dropping its open
        chunk) and its files deleted. ``start()`` opens the first chunk: a
        ``start_chunk()`` after it would drop that chunk and leave its temp dir behind."""
        context = browser.context
        try:
            if self._tracing.pop(context, None) is not None:
                await context.tracing.stop()
                browser.empty_traces_dir()
            await context.tracing.start(
                screenshots=self.context.settings.runner_trace_screenshots,
                snapshots=snapshots,
                sources=False,
            )
            _without_client_stacks(context.tracing)
        except PlaywrightError as error:
            log.warning("could not start a trace: %s", error)
            return False
        self._tracing[context] = _Trace(snapshots)
        return True

    async def _stop_trace(self, run: TaskRun, browser: PooledBrowser) -> None:
        """Save the task's chunk as its trace, then open the next task's; every
        ``TRACE_RESTART_TASKS`` the trace restarts instead, with its files deleted."""
        context = browser.context
        path = artifacts.trace_path(self.context.settings.artifacts_dir, run.task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        trace = self._tracing.get(context)
        try:
            await context.tracing.stop_chunk(path=str(path))
            if trace is not None:
                trace.tasks += 1
                if trace.tasks >= TRACE_RESTART_TASKS:
                    await self._restart_trace(browser, trace.snapshots)
                    return
            await context.tracing.start_chunk()
            _without_client_stacks(context.tracing)
        except PlaywrightError as error:
            log.warning("could not save the trace of %s: %s", run.task_id, error)
            self._tracing.pop(context, None)

    async def _screenshot(self, run: TaskRun, page: Any) -> None:
        """A PNG of the page, linked from the task's last error entry."""

        async def take() -> bytes | None:
            try:
                return bytes(await page.screenshot(type="png", timeout=10_000))
            except PlaywrightError as error:
                log.warning("no failure screenshot for %s: %s", run.task_id, error)
                return None

        await task_run.attach_screenshot(self.context, run, take)


def _without_client_stacks(tracing: Any) -> None:
    """Keep the Python call stack of each Playwright call out of the trace chunk that
    just opened.

    While any trace of a Playwright connection records, its client sends every call's
    stack to the driver, and the driver adds it to every trace open on the connection:
    with one driver for all of a runner's browsers, each task's trace held the stacks
    of every browser's calls since its chunk opened, and writing them was most of what
    tracing cost (bench/fleet.py). They would only point at Bredgio's own source lines,
    so the traces go without them. This reaches into Playwright's client
    (``_reset_stack_counter`` is what ``stop_chunk`` calls); a client without it keeps
    sending stacks, and ``tests/runner/test_traces.py`` fails."""
    reset = getattr(getattr(tracing, "_impl_obj", None), "_reset_stack_counter", None)
    if callable(reset):
        reset()


@dataclass
class _Trace:
    """A browser's running trace."""

    snapshots: bool
    tasks: int = 0
    """Tasks whose chunks it saved."""


class _HandedBack(Exception):
    """The task went back to the queue: no browser could be had now."""


def _hand_back_running(session: Session, task_id: str) -> None:
    """A task that could not get a browser goes back to the queue untouched."""
    from api.db.models import Task
    from api.db.state import transition

    task = session.get(Task, task_id)
    if task is not None and task.status == TaskStatus.running:
        transition(task, TaskStatus.pending)
        session.add(task)


async def profile_operation(
    context: AppContext, pool: BrowserPool, agent_id: str, op: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Cookie import/export and login checks, done inside the agent's pooled browser so
    they never race a running task for the profile."""
    from api.db.models import Agent
    from profiles.cookies import Cookie, export_cookies, import_cookies
    from profiles.health import LoginCheckFailed, login_status

    def load(session: Session) -> dict[str, Any] | None:
        agent = session.get(Agent, agent_id)
        return None if agent is None else {"browser": agent.browser, "platforms": agent.platforms}

    def read() -> dict[str, Any] | None:
        with context.db.unit(write=False) as session:
            return load(session)

    agent = await asyncio.to_thread(read)
    if agent is None:
        return {"error": "agent not found"}
    settings = BrowserSettings.model_validate(agent["browser"])
    site = context.settings.site_origins
    origins = {"facebook": site.facebook, "twitter": site.twitter}
    async with pool.session(agent_id, settings) as browser:
        if op == "import_cookies":
            cookies = [Cookie.model_validate(c) for c in payload["cookies"]]
            rejected = await import_cookies(browser.context, cookies)
            # A clean close writes the cookies to disk now, so a crash cannot lose them.
            browser.close_after_session = True
            return {
                "imported": len(cookies) - len(rejected),
                "rejected": [c.model_dump(by_alias=True, exclude_none=True) for c in rejected],
            }
        if op == "export_cookies":
            exported = await export_cookies(browser.context, payload.get("urls"))
            return {"cookies": [c.model_dump(by_alias=True, exclude_none=True) for c in exported]}
        if op == "login_check":
            platforms = payload.get("platforms") or agent["platforms"]
            results = []
            for platform in platforms:
                if platform not in origins:
                    results.append(
                        {"platform": platform, "loggedIn": False, "reason": "not supported yet"}
                    )
                    continue
                try:
                    status = await login_status(
                        browser.context, platform, origins, deep=bool(payload.get("deep"))
                    )
                except (LoginCheckFailed, PlaywrightError) as error:
                    results.append(
                        {
                            "platform": platform,
                            "loggedIn": False,
                            "reason": f"check failed: {error}",
                        }
                    )
                else:
                    results.append(status.model_dump(by_alias=True))
            return {"platforms": results}
    return {"error": f"unknown operation {op!r}"}
