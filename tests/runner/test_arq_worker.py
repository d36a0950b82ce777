"""The runner's arq worker against a real Redis: which queued jobs a poll starts, and
what the poll costs in Redis commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq import func
from arq.connections import ArqRedis, create_pool
from arq.constants import in_progress_key_prefix

from api.embedded_redis import EmbeddedRedis
from api.queue import QUEUE_NAME, redis_settings
from runner.arq_worker import OutageTolerantWorker

RUNNING_ELSEWHERE = 12


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("arq-redis")
    server = EmbeddedRedis(directory, directory / "url")
    yield server.start()
    server.stop()


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await create_pool(redis_settings(redis_url), default_queue_name=QUEUE_NAME)
    await redis.flushall()
    yield redis
    await redis.aclose()


async def _commands(redis: ArqRedis) -> dict[str, int]:
    stats: dict[str, Any] = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def test_a_poll_starts_the_free_jobs_and_looks_at_the_busy_ones_in_one_trip(
    pool: ArqRedis,
) -> None:
    """Queued jobs stay in the queue while they run: a poll of a busy fleet sees mostly
    jobs running in other workers. It starts exactly the free ones, and learns which
    are busy from one pipelined look rather than arq's three round trips per job."""
    started: list[str] = []

    async def job(ctx: dict[str, Any], name: str) -> None:
        started.append(name)

    busy = [f"busy-{n}" for n in range(RUNNING_ELSEWHERE)]
    for job_id in [*busy, "free"]:
        await pool.enqueue_job("job", job_id, _job_id=job_id)
    for job_id in busy:  # what a worker elsewhere holds while it runs the job
        await pool.psetex(in_progress_key_prefix + job_id, 60_000, b"1")

    worker = OutageTolerantWorker(
        functions=[func(job, name="job")],
        redis_pool=pool,
        queue_name=QUEUE_NAME,
        idle_poll_s=30,
        max_jobs=20,
        handle_signals=False,
    )
    queued = await pool.zrangebyscore(QUEUE_NAME, min="-inf", max="+inf")
    assert len(queued) == RUNNING_ELSEWHERE + 1
    before = await _commands(pool)
    await worker.start_jobs(queued)
    after = await _commands(pool)
    assert set(worker.tasks) == {"free"}
    await asyncio.wait_for(asyncio.gather(*worker.tasks.values()), 10)
    assert started == ["free"]
    spent = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    # One EXISTS per job in one pipeline; arq's WATCH / EXISTS / ZSCORE only for "free".
    assert spent.get("watch", 0) == 1
    assert spent.get("exists", 0) == RUNNING_ELSEWHERE + 2
    assert spent.get("zscore", 0) == 1


async def test_a_nudge_starts_a_poll_without_looking_for_deferred_jobs(pool: ArqRedis) -> None:
    """The lookup of the earliest deferred job only serves to time a wait; when a nudge
    is already waiting the poll happens at once, with no extra round trip."""

    async def job(ctx: dict[str, Any]) -> None:
        pass

    worker = OutageTolerantWorker(
        functions=[func(job, name="job")],
        redis_pool=pool,
        queue_name=QUEUE_NAME,
        idle_poll_s=30,
        handle_signals=False,
    )
    await worker._until_work()  # the first call starts listening and returns at once
    listener = worker._listener
    assert listener is not None
    try:
        worker._wake()
        before = await _commands(pool)
        await asyncio.wait_for(worker._until_work(), 1)
        after = await _commands(pool)
        assert after.get("zrangebyscore", 0) == before.get("zrangebyscore", 0)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
