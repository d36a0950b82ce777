"""The API's side of the task queue: arq wake-ups sent after a task's row is committed,
and profile operations (cookie import/export, login checks) that only a runner may do
because runners own every browser.

Jobs carry IDs only and use JSON, never pickle. The database stays the source of truth:
a wake-up lost here is re-sent by the runners' reconciler.

Every new job is announced on :data:`NUDGE_CHANNEL`, so runners look at the queue as
soon as there is something to take and otherwise poll it rarely
(``BREDGIO_RUNNER_POLL_DELAY_S``): polling every few milliseconds costs each runner a
Redis round trip per queued job per poll, which a busy fleet feels.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import Job
from fastapi import FastAPI

from api.context import AppContext, TaskWakeup
from api.errors import ServiceUnavailable

log = logging.getLogger(__name__)

QUEUE_NAME = "bredgio:runner"
DRAIN_JOB = "drain_agent"
PROFILE_JOB = "profile_op"


NUDGE_CHANNEL = "bredgio:runner-nudge"


async def nudge_runners(redis: ArqRedis) -> None:
    """Tell the runners that the queue has a new job."""
    await redis.publish(NUDGE_CHANNEL, b"")


def drain_job_id(agent_id: str) -> str:
    return f"drain:{agent_id}"


RUNNERS_KEY = "bredgio:runners"
RUNNER_ALIVE_S = 15.0


async def register_runner(redis: ArqRedis, runner_id: str) -> None:
    """A runner says it is alive (it does so on every reconcile pass)."""
    now = time.time()
    await redis.zadd(RUNNERS_KEY, {runner_id: now})
    await redis.zremrangebyscore(RUNNERS_KEY, "-inf", now - 4 * RUNNER_ALIVE_S)


async def unregister_runner(redis: ArqRedis, runner_id: str) -> None:
    await redis.zrem(RUNNERS_KEY, runner_id)


async def live_runners(redis: ArqRedis) -> int:
    return int(await redis.zcount(RUNNERS_KEY, time.time() - RUNNER_ALIVE_S, "+inf"))


def serialize(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def deserialize(data: bytes) -> Any:
    return json.loads(data)


def redis_settings(url: str) -> RedisSettings:
    if url.startswith("unix://"):
        return RedisSettings(unix_socket_path=url.removeprefix("unix://"))
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    return await create_pool(
        redis_settings(url),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=QUEUE_NAME,
    )


async def wake_agent(redis: ArqRedis, agent_id: str) -> bool:
    """Ask a runner to drain the agent's runnable tasks. False when a drain job of the
    agent is already queued or running (the wake-up is then not needed, unless that job
    belongs to a dead runner: see :func:`force_wake_agent`)."""
    job = await redis.enqueue_job(
        DRAIN_JOB, agent_id, _job_id=drain_job_id(agent_id), _queue_name=QUEUE_NAME
    )
    if job is None:
        return False
    await nudge_runners(redis)
    return True


async def force_wake_agent(redis: ArqRedis, agent_id: str) -> None:
    """Wake the agent even if a drain job of a dead runner still holds its job id (arq
    keeps a killed worker's job "in progress" until the job's timeout). Safe if that
    drain is in fact alive: claims never let two drains run one agent's tasks."""
    job_id = drain_job_id(agent_id)
    # The retry count too: arq counts the replacement as a second try of the dead job
    # and, with max_tries=1, refuses to run it.
    await redis.delete(
        job_key_prefix + job_id,
        in_progress_key_prefix + job_id,
        result_key_prefix + job_id,
        retry_key_prefix + job_id,
    )
    await wake_agent(redis, agent_id)


async def wake_agent_at(redis: ArqRedis, agent_id: str, when: datetime) -> None:
    """Drain the agent at ``when`` (pacing, a scheduled time). Deferred wake-ups have an
    id of their own (a drain asks for one while it still runs, which would shadow an
    immediate wake-up's id); claims are safe against two drains of one agent."""
    job = await redis.enqueue_job(
        DRAIN_JOB,
        agent_id,
        _job_id=f"drain-at:{agent_id}",
        _queue_name=QUEUE_NAME,
        _defer_until=when,
    )
    if job is not None:  # runners then wait for it until its time rather than a poll
        await nudge_runners(redis)


class TaskQueue:
    """Holds the API process's Redis pool and turns committed task ids into wake-ups."""

    def __init__(self, context: AppContext, redis: ArqRedis) -> None:
        self.context = context
        self.redis = redis
        self.loop = asyncio.get_running_loop()

    def wake_task(self, wakeup: TaskWakeup) -> None:
        """Called after commit, possibly from a worker thread."""
        if wakeup.executor != "runner":
            return
        future = asyncio.run_coroutine_threadsafe(
            wake_agent(self.redis, wakeup.agent_id), self.loop
        )
        future.add_done_callback(_log_failure)

    async def profile_op(self, agent_id: str, op: str, payload: dict[str, Any]) -> Any:
        """Run a profile operation in a runner and wait for its JSON result."""
        timeout = self.context.settings.profile_op_timeout_s
        try:
            job: Job | None = await self.redis.enqueue_job(
                PROFILE_JOB, agent_id, op, payload, _queue_name=QUEUE_NAME
            )
            assert job is not None
            await nudge_runners(self.redis)
            result = await job.result(timeout=timeout, poll_delay=0.05)
        except TimeoutError:
            raise ServiceUnavailable(
                "No runner answered in time; is `bredgio runner` running?"
            ) from None
        except OSError as error:
            raise ServiceUnavailable(f"The task queue (Redis) is unreachable: {error}") from None
        except Exception as error:  # raised in the runner (the profile stayed busy, say)
            raise ServiceUnavailable(
                f"The runner could not use the agent's profile: {error}"
            ) from None
        return result


def _log_failure(future: Any) -> None:
    error = future.exception()
    if error is not None:
        log.warning("task wake-up not sent (the reconciler will retry): %s", error)


async def _watch_runners(context: AppContext, redis: ArqRedis) -> None:
    """Keep ``context.runners_online`` current (runner agents show online through it)."""
    while True:
        try:
            context.runners_online = await live_runners(redis) > 0
        except Exception as error:  # Redis briefly away: the status is unknown
            log.debug("cannot read live runners: %s", error)
            context.runners_online = None
        await asyncio.sleep(2.0)


def queue_component(url: str) -> Any:
    """A lifespan component connecting the API to the queue."""

    @asynccontextmanager
    async def component(app: FastAPI, context: AppContext) -> AsyncIterator[None]:
        redis = await connect(url)
        queue = TaskQueue(context, redis)
        app.state.queue = queue
        context.task_wakeups.append(queue.wake_task)
        watcher = asyncio.create_task(_watch_runners(context, redis))
        try:
            yield
        finally:
            watcher.cancel()
            context.task_wakeups.remove(queue.wake_task)
            context.runners_online = None
            await redis.aclose()

    return component
