"""Browser process trees on this host: find them, kill them, measure their memory.

All of it reads ``/proc``; it is Linux-only, like the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from profiles.processes import PROC, pid_alive, processes_for_profile


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid``, or ``None`` if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name: state, ppid, ...
    return int(stat.rpartition(")")[2].split()[1])


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            ppid = parent_pid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return [p for p in found if pid_alive(p)]


def browser_tree(pid: int | None, profile: str | Path) -> list[int]:
    """The browser ``pid`` with its descendants, plus any other live process running on
    ``profile`` (children re-parented to init after their browser died)."""
    pids = {proc.pid for proc in processes_for_profile(profile)}
    if pid is not None and pid_alive(pid):
        pids.add(pid)
        pids.update(descendants(pid))
    return sorted(pids)


def kill_now(pids: Iterable[int]) -> list[int]:
    """SIGKILL every live pid in ``pids`` without waiting. Returns those signalled."""
    signalled = []
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                signalled.append(pid)
    return signalled


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those ``pids`` that are our own children, so they do
    not linger as zombies (only matters when this process is a subreaper or PID 1)."""
    me = os.getpid()
    for pid in pids:
        if parent_pid(pid) == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


async def kill_and_wait(
    pids: Iterable[int], *, timeout_s: float = 5.0, poll_interval_s: float = 0.02
) -> list[int]:
    """SIGKILL ``pids``, reap our own children among them and wait until none is alive.

    Returns the pids that were signalled; those still alive after ``timeout_s`` (stuck
    in uninterruptible sleep) are left for the next sweep.
    """
    signalled = kill_now(pids)
    deadline = time.monotonic() + timeout_s
    while True:
        reap(signalled)
        if not any(pid_alive(pid) for pid in signalled) or time.monotonic() >= deadline:
            return signalled
        await asyncio.sleep(poll_interval_s)


def pss_bytes(pids: Iterable[int]) -> int:
    """Total proportional set size of ``pids`` in bytes, from ``/proc/<pid>/smaps_rollup``.

    PSS splits shared pages among the processes sharing them, so summing it over a
    browser's processes gives the browser's real share of memory (summed RSS would
    count the shared Chromium binary once per process).
    """
    total_kb = 0
    for pid in pids:
        try:
            lines = (PROC / str(pid) / "smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("Pss:"):
                total_kb += int(line.split()[1])
                break
    return total_kb * 1024
