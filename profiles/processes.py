"""Which processes on this host run on a profile, read from ``/proc``.

Every Chromium process (browser, zygotes, renderers, GPU, utilities) carries
``--user-data-dir=<profile>`` on its command line; the browser process is the one
without ``--type=``. Zombies count as dead: they hold no memory and no profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_USER_DATA_DIR = "--user-data-dir="


@dataclass(frozen=True)
class ProfileProcess:
    """One process running on a Chromium profile."""

    pid: int
    user_data_dir: Path
    is_browser: bool
    """The browser (main) process, as opposed to a zygote/renderer/utility child."""


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process on this host."""
    if pid <= 0:
        return False
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def read_cmdline(pid: int) -> list[str]:
    """The process's argv, or ``[]`` if it is gone or unreadable."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def profile_processes() -> list[ProfileProcess]:
    """Every live process on this host started with ``--user-data-dir=``."""
    found = []
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        user_data_dir = None
        is_browser = True
        for arg in read_cmdline(pid):
            if arg.startswith(_USER_DATA_DIR):
                user_data_dir = arg[len(_USER_DATA_DIR) :]
            elif arg.startswith("--type="):
                is_browser = False
        if user_data_dir and pid_alive(pid):
            found.append(ProfileProcess(pid, Path(os.path.normpath(user_data_dir)), is_browser))
    return found


def processes_for_profile(profile: str | Path) -> list[ProfileProcess]:
    """The live processes whose ``--user-data-dir`` is ``profile``."""
    target = Path(os.path.normpath(Path(profile).absolute()))
    return [proc for proc in profile_processes() if proc.user_data_dir == target]


def processes_under(root: str | Path) -> list[ProfileProcess]:
    """The live processes whose ``--user-data-dir`` is a directory inside ``root``."""
    target = Path(os.path.normpath(Path(root).absolute()))
    return [proc for proc in profile_processes() if proc.user_data_dir.parent == target]


def browser_pid(profile: str | Path) -> int | None:
    """The pid of the browser process running on ``profile``, if any."""
    for proc in processes_for_profile(profile):
        if proc.is_browser:
            return proc.pid
    return None
