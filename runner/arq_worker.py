"""arq's ``Worker``, made to outlive a Redis outage and to look at the queue when there
is something to take rather than every few milliseconds.

arq ends its worker on the first Redis error of a poll: a Redis restart stops every
runner, and each one then only finishes the drains it already runs. Redis carries only
wake-ups (the database holds every task), so a runner should keep its browsers, keep
running its tasks, and go back to polling once Redis answers again; the reconciler then
re-sends the wake-ups Redis lost.

arq polls the queue every ``poll_delay``, and each poll costs a Redis round trip per
queued job (it tries to start each one, including those running elsewhere). Polling
fast enough for a task to start within milliseconds of its dispatch cost each runner of
a busy fleet more CPU than its flows. So the worker polls when told: when a job is
announced on :data:`~api.queue.NUDGE_CHANNEL`, when one of its own jobs ends (a slot is
free), when the earliest deferred job falls due, and otherwise every ``idle_poll_s``
in case a nudge was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.exceptions import RedisError

from api.queue import NUDGE_CHANNEL

log = logging.getLogger(__name__)

OUTAGE_RETRY_S = 0.5


class OutageTolerantWorker(Worker):
    """A poll that cannot reach Redis is logged and tried again every
    :data:`OUTAGE_RETRY_S` instead of ending the worker; a job is never started twice
    at once in one worker; polls happen on nudges, on free slots, when a deferred job
    falls due, and every ``idle_poll_s`` otherwise."""

    _outage_since: float | None = None

    def __init__(self, *args: Any, idle_poll_s: float, **kwargs: Any) -> None:
        # arq sleeps poll_delay between polls; the waiting happens in _poll_iteration.
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_poll_s = idle_poll_s
        self._work: asyncio.Event | None = None
        self._listener: asyncio.Task[None] | None = None

    async def _poll_iteration(self) -> None:
        try:
            await self._until_work()
            await super()._poll_iteration()
        except (RedisError, OSError) as error:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning("Redis is unreachable; running tasks go on, polling again: %s", error)
            await asyncio.sleep(OUTAGE_RETRY_S)
            return
        if self._outage_since is not None:
            log.info("Redis is back after %.1f s", time.monotonic() - self._outage_since)
            self._outage_since = None

    async def _until_work(self) -> None:
        """Return when there may be a job to start (at once on the first call)."""
        if self._work is None:
            self._work = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="runner-nudges")
            return
        if not self._work.is_set():
            # Told nothing yet: sleep until the earliest deferred job falls due, a
            # nudge, or the idle poll (the lookup is skipped when a nudge is waiting).
            wait_s = self.idle_poll_s
            next_due = await self.pool.zrangebyscore(
                self.queue_name,
                min=f"({timestamp_ms()}",
                max="+inf",
                start=0,
                num=1,
                withscores=True,
            )
            if next_due:
                wait_s = min(wait_s, max(0.0, (next_due[0][1] - timestamp_ms()) / 1000))
            if not self._work.is_set() and wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), wait_s)
        self._work.clear()

    def _wake(self) -> None:
        if self._work is not None:
            self._work.set()

    async def _listen(self) -> None:
        """Set the work event on every nudge; while unsubscribed (Redis away), set it
        once per retry so that polls go on."""
        while True:
            try:
                async with self.pool.pubsub() as pubsub:
                    await pubsub.subscribe(NUDGE_CHANNEL)
                    self._wake()  # a job may have come while this was not listening
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake()
            except (RedisError, OSError) as error:
                log.debug("runner nudges unavailable: %s", error)
            self._wake()
            await asyncio.sleep(OUTAGE_RETRY_S)

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._wake()  # a slot is free: a queued job may start now

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await super().close()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        candidates = []
        for job_id in job_ids:
            running = self.tasks.get(job_id.decode())
            if running is not None and not running.done():
                # Queued again under the id of a job this worker runs: Redis lost the
                # job's in-progress mark (a restart, a forced wake-up). arq would track
                # both under one id and lose hold of the first; the job running here
                # already does what the copy asks, whose key it removes when it ends.
                continue
            candidates.append(job_id)
        if not candidates:
            return
        # A queued job stays in the queue while it runs, so most ids are jobs running
        # in other workers. arq checks each with three round trips; one pipelined look
        # at their in-progress marks leaves it only the jobs that may be free (it
        # checks those again, atomically).
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in candidates:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            taken = await pipe.execute()
        for job_id, in_progress in zip(candidates, taken, strict=True):
            if in_progress:
                continue
            try:
                await super().start_jobs([job_id])
            except (RedisError, OSError):
                # arq counts the job and takes a slot before the Redis calls that start
                # it, and gives neither back when one of those calls fails.
                self.job_counter -= 1
                self.sem.release()
                raise
