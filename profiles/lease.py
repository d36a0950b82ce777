"""The host-local lease that lets exactly one process use a profile at a time.

The lease is an exclusive ``flock`` on ``<profiles_root>/<agent_id>.lock``. The kernel
drops it when the holding file descriptor closes, so a process that dies (even by
SIGKILL) releases its leases with no cleanup. The holder writes ``{pid, host, since}``
into the file so a waiter can say who is in the way.

``flock`` locks belong to an open file description, so two leases on the same profile
exclude each other within one process too. Lock files are never deleted: deleting one
while someone holds it would let a second process lock a fresh file of the same name.

This lease only covers one host (and hosts sharing a kernel). A cluster-wide lease in the
database or Redis is layered on top elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from profiles.errors import LeaseTimeout
from profiles.paths import lease_path

DEFAULT_POLL_INTERVAL_S = 0.05


class ProfileLease:
    """Exclusive use of one agent's profile on this host.

    ``async with ProfileLease(root, agent_id, timeout_s=5):`` acquires and releases it;
    ``try_acquire()``/``acquire()``/``release()`` do the same step by step.
    """

    def __init__(
        self,
        profiles_root: str | Path,
        agent_id: str,
        *,
        timeout_s: float = 0.0,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        self.agent_id = agent_id
        self.path = lease_path(profiles_root, agent_id)
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lease."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never blocks. Returns whether it is held."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # os.open makes the descriptor non-inheritable, so a Chromium started later does
        # not keep our lease alive after we die.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_holder(fd)
        return True

    async def acquire(self, timeout_s: float | None = None) -> None:
        """Take the lease, polling until ``timeout_s`` (default: the constructor's) runs
        out; then raise ``LeaseTimeout`` naming the holder."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self.holder()
                raise LeaseTimeout(
                    f"profile {self.agent_id!r} is leased by {_describe(holder)}", holder=holder
                )
            await asyncio.sleep(min(self.poll_interval_s, remaining))

    def release(self) -> None:
        """Give the lease back. Safe to call when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def holder(self) -> dict[str, object] | None:
        """What the current holder wrote (``pid``, ``host``, ``since``), or ``None``."""
        try:
            raw = self.path.read_text()
        except OSError:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _write_holder(self, fd: int) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)

    async def __aenter__(self) -> ProfileLease:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # Only a safety net; the kernel would drop the lock with the descriptor anyway.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def _describe(holder: dict[str, object] | None) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
