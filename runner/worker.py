"""The arq worker (`bredgio runner`): owns Playwright and the browser pool, drains
agents' tasks, performs profile operations, and re-sends wake-ups Redis lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime
from typing import Any

from arq import func
from arq.worker import Worker
from playwright.async_api import async_playwright
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel import Session

from api import task_run
from api.config import Settings
from api.context import AppContext
from api.db.models import ExecutorKind
from api.queue import (
    DRAIN_JOB,
    PROFILE_JOB,
    QUEUE_NAME,
    connect,
    deserialize,
    force_wake_agent,
    redis_settings,
    register_runner,
    serialize,
    unregister_runner,
    wake_agent,
    wake_agent_at,
)
from api.services import execution
from runner.affinity import Affinity, Inbox
from runner.arq_worker import OutageTolerantWorker
from runner.execute import TaskRunner, profile_operation
from runner.pool import BrowserPool

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 24 * 3600
# A drain is a wake-up: running it again is always safe. arq puts a drain cancelled by
# a shutdown back in the queue as a new try; with one try allowed, the runner that
# picks it up would refuse it ("max retries") and keep its failure under the agent's
# job id for an hour, so the task handed back would wait for the stale-task sweep.
DRAIN_MAX_TRIES = 10


async def drain_agent(ctx: dict[str, Any], agent_id: str) -> int:
    """The drain job: forwarded to the runner holding the agent's warm browser, if that
    is another one (see :mod:`runner.affinity`), else drained here."""
    affinity: Affinity | None = ctx.get("affinity")
    route = "free"
    if affinity is not None:
        try:
            route = await affinity.route(agent_id)
        except (RedisError, OSError) as error:
            log.warning("could not look up the holder of %s: %s", agent_id, error)
    if route == "forwarded":
        return 0
    return await drain_here(ctx, agent_id, take=route != "held")


async def drain_here(ctx: dict[str, Any], agent_id: str, *, take: bool = True) -> int:
    """Drain the agent in this runner; with ``take``, become its holder first. The hold
    is given back if the agent's browser did not stay open here."""
    runner: TaskRunner = ctx["task_runner"]
    affinity: Affinity | None = ctx.get("affinity")
    if affinity is not None and take:
        with contextlib.suppress(RedisError, OSError):
            await affinity.hold(agent_id)
    try:
        return await runner.drain(agent_id)
    finally:
        if affinity is not None and runner.pool.browser(agent_id) is None:
            with contextlib.suppress(RedisError, OSError):
                await affinity.release([agent_id])


async def profile_op(
    ctx: dict[str, Any], agent_id: str, op: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """A profile operation runs in the browser of this runner's pool; if another runner
    holds the agent's warm browser, it is asked to hand the profile over first, and this
    runner holds the agent while its browser stays open."""
    affinity: Affinity | None = ctx.get("affinity")
    pool: BrowserPool = ctx["pool"]
    if affinity is not None:
        try:
            await affinity.ask_for_profile(agent_id)
            await affinity.hold(agent_id)
        except (RedisError, OSError) as error:
            log.warning("could not ask for the profile of %s: %s", agent_id, error)
    try:
        return await profile_operation(ctx["app_context"], pool, agent_id, op, payload)
    finally:
        if affinity is not None and pool.browser(agent_id) is None:
            with contextlib.suppress(RedisError, OSError):
                await affinity.release([agent_id])


async def release_profile(ctx: dict[str, Any], agent_id: str, within_s: float) -> None:
    """Another runner needs the agent's profile: close its browser here as soon as it is
    idle (a running task finishes first), and stop holding the agent."""
    pool: BrowserPool = ctx["pool"]
    affinity: Affinity = ctx["affinity"]
    deadline = asyncio.get_running_loop().time() + within_s
    while pool.browser(agent_id) is not None:
        if await pool.close_if_idle(agent_id):
            log.info("closed the browser of %s: another runner needs its profile", agent_id)
            break
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.2)
    with contextlib.suppress(RedisError, OSError):
        await affinity.release([agent_id])


async def reconcile(
    context: AppContext,
    redis: Any,
    interval_s: float,
    runner_id: str = "",
    task_runner: TaskRunner | None = None,
    affinity: Affinity | None = None,
) -> None:
    """Every ``interval_s``: close this runner's idle browsers of agents whose task
    another runner claimed (with ``task_runner``; that runner waits for the profile),
    renew this runner's affinity to the agents whose browsers stay open,
    recover tasks whose runner died (no heartbeat for ``task_stale_s``), then wake every
    runner agent with a runnable task and nothing in flight. The database is the truth;
    this repairs wake-ups lost to a Redis restart, a flush, or a race with a finishing
    drain job."""
    stale_after_s = context.settings.task_stale_s
    while True:
        if task_runner is not None:
            try:
                for agent_id in await task_runner.release_profiles_wanted_elsewhere():
                    log.info("closed the idle browser of %s: another runner claimed it", agent_id)
            except Exception as error:
                log.warning("releasing profiles failed: %s", error)
            if affinity is not None:
                try:
                    await affinity.refresh(task_runner.pool.open_agents())
                except Exception as error:
                    log.warning("renewing agent affinity failed: %s", error)
        try:
            if runner_id:
                await register_runner(redis, runner_id)

            def due(session: Session) -> tuple[list[str], list[str]]:
                return (
                    execution.agents_with_runnable_tasks(session),
                    execution.agents_with_runnable_tasks(
                        session, waiting_longer_than_s=stale_after_s
                    ),
                )

            recovered = await task_run.recover_stale(context, ExecutorKind.runner.value)
            for agent_id, task_id in recovered:
                log.warning("recovered task %s of agent %s from a dead runner", task_id, agent_id)
                await force_wake_agent(redis, agent_id)
            runnable, stuck = await context.db.run(due, write=False)
            for agent_id in runnable:
                woken = await wake_agent(redis, agent_id)
                if not woken and agent_id in stuck:
                    # Runnable for a long time with nothing in flight, yet a drain job
                    # "exists": it belongs to a dead runner.
                    log.warning("drain job of agent %s looks orphaned; replacing it", agent_id)
                    await force_wake_agent(redis, agent_id)
        except Exception as error:
            log.warning("reconcile pass failed: %s", error)
        await asyncio.sleep(interval_s)


def build_worker(settings: Settings, redis_url: str, *, burst: bool = False) -> Worker:
    context = AppContext.create(settings)
    state: dict[str, Any] = {}

    async def on_startup(ctx: dict[str, Any]) -> None:
        playwright = await async_playwright().start()
        pool = BrowserPool(
            playwright,
            profiles_root=settings.profiles_dir,
            executable_path=settings.chromium_path,
            max_browsers=settings.runner_max_browsers,
            idle_close_s=settings.runner_idle_close_s,
            headless=settings.runner_headless,
        )
        reaped = await pool.reap_orphans()
        if reaped:
            log.info("killed %d orphaned Chromium processes", len(reaped))
        pool.start()
        redis = ctx["redis"]

        async def wake_later(agent_id: str, when: datetime) -> None:
            await wake_agent_at(redis, agent_id, when)

        runner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        task_runner = TaskRunner(
            context,
            pool,
            runner_id=runner_id,
            wake_later=wake_later,
            max_running=settings.runner_max_running,
        )
        ctx.update(app_context=context, pool=pool, task_runner=task_runner)
        state["playwright"] = playwright
        state["redis"] = await connect(redis_url)
        state["runner_id"] = runner_id
        affinity = Affinity(
            state["redis"], runner_id, ttl_s=max(3 * settings.reconcile_interval_s, 2.0)
        )
        ctx["affinity"] = affinity
        state["affinity"] = affinity
        state["inbox_redis"] = Redis.from_url(redis_url)
        state["inbox"] = Inbox(
            state["inbox_redis"],
            runner_id,
            drain=lambda agent_id: drain_here(ctx, agent_id),
            release=lambda agent_id: release_profile(ctx, agent_id, settings.profile_op_timeout_s),
        )
        state["inbox_loop"] = asyncio.create_task(state["inbox"].serve())
        state["reconciler"] = asyncio.create_task(
            reconcile(
                context,
                state["redis"],
                settings.reconcile_interval_s,
                runner_id,
                task_runner,
                affinity,
            )
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for name in ("reconciler", "inbox_loop"):
            loop_task = state.get(name)
            if loop_task is not None:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
        if "inbox" in state:
            # Forwarded drains hand their tasks back, as arq's own jobs do.
            await state["inbox"].close()
            await state["inbox_redis"].aclose()
        if "redis" in state:
            with contextlib.suppress(Exception):
                await unregister_runner(state["redis"], state["runner_id"])
            pool = ctx.get("pool")
            if "affinity" in state and pool is not None:
                with contextlib.suppress(Exception):
                    await state["affinity"].release(pool.open_agents())
            await state["redis"].aclose()
        pool = ctx.get("pool")
        if pool is not None:
            await pool.close()
        playwright = state.get("playwright")
        if playwright is not None:
            await playwright.stop()
        context.db.dispose()

    return OutageTolerantWorker(
        functions=[
            func(
                drain_agent,
                name=DRAIN_JOB,
                keep_result=0,
                timeout=DRAIN_TIMEOUT_S,
                max_tries=DRAIN_MAX_TRIES,
            ),
            func(
                profile_op,
                name=PROFILE_JOB,
                keep_result=300,
                timeout=settings.profile_op_timeout_s,
                max_tries=1,
            ),
        ],
        queue_name=QUEUE_NAME,
        redis_settings=redis_settings(redis_url),
        job_serializer=serialize,
        job_deserializer=deserialize,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.runner_max_browsers,
        idle_poll_s=settings.runner_poll_delay_s,
        handle_signals=True,
        burst=burst,
        health_check_interval=10,
    )


def run_worker(settings: Settings, redis_url: str) -> None:
    worker = build_worker(settings, redis_url)
    worker.run()
