"""arq's ``Worker``, made to outlive a Redis outage.

arq ends its worker on the first Redis error of a poll: a Redis restart stops every
runner, and each one then only finishes the drains it already runs. Redis carries only
wake-ups (the database holds every task), so a runner should keep its browsers, keep
running its tasks, and go back to polling once Redis answers again; the reconciler then
re-sends the wake-ups Redis lost.
"""

from __future__ import annotations

import asyncio
import logging
import time

from arq.worker import Worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

OUTAGE_RETRY_S = 0.5


class OutageTolerantWorker(Worker):
    """A poll that cannot reach Redis is logged and tried again every
    :data:`OUTAGE_RETRY_S` instead of ending the worker; a job is never started twice
    at once in one worker."""

    _outage_since: float | None = None

    async def _poll_iteration(self) -> None:
        try:
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

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            running = self.tasks.get(job_id.decode())
            if running is not None and not running.done():
                # Queued again under the id of a job this worker runs: Redis lost the
                # job's in-progress mark (a restart, a forced wake-up). arq would track
                # both under one id and lose hold of the first; the job running here
                # already does what the copy asks, whose key it removes when it ends.
                continue
            try:
                await super().start_jobs([job_id])
            except (RedisError, OSError):
                # arq counts the job and takes a slot before the Redis calls that start
                # it, and gives neither back when one of those calls fails.
                self.job_counter -= 1
                self.sem.release()
                raise
