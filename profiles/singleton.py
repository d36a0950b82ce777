"""Recovery from the ``SingletonLock`` a dead Chromium leaves in its profile.

Chromium marks a profile in use with three symlinks in the user-data directory:
``SingletonLock`` -> ``"<hostname>-<pid>"``, ``SingletonSocket`` and ``SingletonCookie``.
A Chromium killed by SIGKILL, or one that died with its container, leaves them behind.
Chromium itself only takes over a lock whose pid is dead on the same host; a lock from
another hostname (a dead container on a shared volume) makes the next launch fail with
"profile in use", and a recycled pid that now belongs to another Chromium makes it try to
talk to, and possibly kill, that unrelated browser.

Call ``clear_stale_singleton`` only while holding the profile's lease: then any Chromium
that is not running on this profile right now is a leftover.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from profiles.errors import ProfileInUse
from profiles.processes import pid_alive, processes_for_profile

SINGLETON_FILES = ("SingletonLock", "SingletonSocket", "SingletonCookie")


def read_singleton_lock(profile: str | Path) -> tuple[str, int] | None:
    """``(hostname, pid)`` from the profile's ``SingletonLock``, or ``None`` if there is
    no lock. An unreadable lock reads as ``("", 0)``, which is always stale."""
    try:
        target = os.readlink(Path(profile) / "SingletonLock")
    except FileNotFoundError:
        return None
    except OSError:
        return ("", 0)
    # Hostnames may contain '-', pids never do.
    host, _, pid = target.rpartition("-")
    if not host or not pid.isdigit():
        return ("", 0)
    return (host, int(pid))


def clear_stale_singleton(profile: str | Path, *, hostname: str | None = None) -> list[Path]:
    """Remove Chromium's singleton files from ``profile`` if no live Chromium owns them.

    The lock is stale when its hostname is not this host's (``hostname``, default
    ``socket.gethostname()``), its pid is dead, or its pid now belongs to a process that
    is not running on this profile. Returns the paths removed.

    Raises ``ProfileInUse`` if a Chromium on this host still runs on the profile.
    """
    profile = Path(profile)
    this_host = hostname if hostname is not None else socket.gethostname()
    lock = read_singleton_lock(profile)
    if lock is not None:
        host, pid = lock
        if host == this_host and pid_alive(pid):
            users = processes_for_profile(profile)
            if any(proc.pid == pid for proc in users):
                raise ProfileInUse(
                    f"Chromium pid {pid} is still running on profile {profile}",
                    pids=[proc.pid for proc in users],
                )

    removed = []
    for name in SINGLETON_FILES:
        path = profile / name
        if os.path.lexists(path):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed
