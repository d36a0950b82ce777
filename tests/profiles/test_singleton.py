"""Stale SingletonLock recovery with a real Chromium."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError

from profiles import (
    SINGLETON_FILES,
    ProfileInUse,
    ProfileLease,
    browser_pid,
    clear_stale_singleton,
    pid_alive,
    profile_dir,
    read_singleton_lock,
)
from tests.profiles.support import Launch


def _singleton_files(profile: Path) -> list[str]:
    return sorted(name for name in SINGLETON_FILES if os.path.lexists(profile / name))


def _fake_lock(profile: Path, target: str) -> None:
    profile.mkdir(parents=True, exist_ok=True)
    os.symlink(target, profile / "SingletonLock")
    os.symlink("/tmp/.org.chromium.Chromium.gone/SingletonSocket", profile / "SingletonSocket")
    os.symlink("1234567890", profile / "SingletonCookie")


async def test_lock_of_a_sigkilled_chromium_is_cleared_and_the_profile_relaunches(
    profiles_root: Path, launch: Launch
) -> None:
    profile = profile_dir(profiles_root, "agent1")
    context = await launch(profile)
    closed = asyncio.Event()
    context.on("close", lambda _: closed.set())
    pid = browser_pid(profile)
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(closed.wait(), 10)
    assert read_singleton_lock(profile) == (socket.gethostname(), pid)
    assert _singleton_files(profile) == sorted(SINGLETON_FILES)

    async with ProfileLease(profiles_root, "agent1"):
        removed = clear_stale_singleton(profile)
        assert sorted(path.name for path in removed) == sorted(SINGLETON_FILES)
        relaunched = await launch(profile)
        page = relaunched.pages[0]
        assert await page.evaluate("1 + 1") == 2
        assert browser_pid(profile) not in (None, pid)


async def test_lock_from_another_host_blocks_chromium_until_cleared(
    profiles_root: Path, launch: Launch
) -> None:
    profile = profile_dir(profiles_root, "agent1")
    _fake_lock(profile, "dead-container-4242")

    with pytest.raises(PlaywrightError):
        await launch(profile)

    removed = clear_stale_singleton(profile)
    assert len(removed) == 3
    context = await launch(profile)
    assert await context.pages[0].evaluate("navigator.userAgent")


async def test_lock_whose_pid_now_belongs_to_another_process_is_stale(
    profiles_root: Path,
) -> None:
    profile = profile_dir(profiles_root, "agent1")
    # Our own pid: alive on this host, but not a Chromium on this profile (pid reuse).
    _fake_lock(profile, f"{socket.gethostname()}-{os.getpid()}")
    assert pid_alive(os.getpid())

    assert len(clear_stale_singleton(profile)) == 3
    assert _singleton_files(profile) == []


async def test_lock_of_a_running_chromium_is_kept(profiles_root: Path, launch: Launch) -> None:
    profile = profile_dir(profiles_root, "agent1")
    await launch(profile)
    pid = browser_pid(profile)

    with pytest.raises(ProfileInUse) as caught:
        clear_stale_singleton(profile)
    assert pid in caught.value.pids
    assert _singleton_files(profile) == sorted(SINGLETON_FILES)


def test_nothing_to_clear_on_a_fresh_profile(profiles_root: Path) -> None:
    assert clear_stale_singleton(profiles_root / "never-launched") == []
