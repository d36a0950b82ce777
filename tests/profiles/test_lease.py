"""The profile lease: one holder at a time, across processes, freed when a holder dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiles import LeaseTimeout, ProfileLease

REPO = Path(__file__).resolve().parents[2]

HOLDER_SCRIPT = """
import asyncio, sys, time
from profiles import ProfileLease

lease = ProfileLease(sys.argv[1], "agent1")
asyncio.run(lease.acquire(10))
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(profiles_root: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding agent1's lease."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(profiles_root)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


async def test_lease_excludes_a_second_holder_in_the_same_process(profiles_root: Path) -> None:
    first = ProfileLease(profiles_root, "agent1")
    second = ProfileLease(profiles_root, "agent1")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert ProfileLease(profiles_root, "agent2").try_acquire(), "other agents are independent"

    first.release()
    assert second.try_acquire()
    second.release()


async def test_acquire_waits_for_the_holder_to_release(profiles_root: Path) -> None:
    first = ProfileLease(profiles_root, "agent1")
    assert first.try_acquire()
    asyncio.get_running_loop().call_later(0.2, first.release)

    started = time.monotonic()
    async with ProfileLease(profiles_root, "agent1", timeout_s=5) as second:
        assert second.held
        assert 0.15 < time.monotonic() - started < 2
    assert not second.held


async def test_lease_held_by_another_process_times_out_naming_it(
    profiles_root: Path, holder: subprocess.Popen[str]
) -> None:
    lease = ProfileLease(profiles_root, "agent1")
    assert not lease.try_acquire()

    started = time.monotonic()
    with pytest.raises(LeaseTimeout) as caught:
        await lease.acquire(0.3)
    assert time.monotonic() - started >= 0.3
    assert caught.value.holder is not None
    assert caught.value.holder["pid"] == holder.pid
    assert f"pid {holder.pid}" in str(caught.value)


async def test_lease_is_freed_when_its_holder_is_killed(
    profiles_root: Path, holder: subprocess.Popen[str]
) -> None:
    lease = ProfileLease(profiles_root, "agent1")
    assert not lease.try_acquire()

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()

    await lease.acquire(2)
    now_held_by = lease.holder()
    assert now_held_by is not None and now_held_by["pid"] == os.getpid()
    lease.release()
