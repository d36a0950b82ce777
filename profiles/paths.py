"""Where a profile lives: one directory per agent under the profiles root."""

from __future__ import annotations

import re
from pathlib import Path

from profiles.errors import InvalidAgentId

_AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

LOCK_SUFFIX = ".lock"


def check_agent_id(agent_id: str) -> str:
    """Return ``agent_id`` if it is safe as a directory name, else raise ``InvalidAgentId``."""
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        raise InvalidAgentId(f"invalid agent id {agent_id!r}: expected 1-128 of [A-Za-z0-9_-]")
    return agent_id


def profile_dir(profiles_root: str | Path, agent_id: str) -> Path:
    """The agent's Chromium user-data directory, ``<profiles_root>/<agent_id>`` (absolute).

    The directory is not created here; Chromium creates it on first launch.
    """
    return Path(profiles_root).resolve() / check_agent_id(agent_id)


def lease_path(profiles_root: str | Path, agent_id: str) -> Path:
    """The agent's lease lock file, ``<profiles_root>/<agent_id>.lock``.

    It sits next to the profile rather than inside it so that wiping the profile
    directory can never delete a lock file someone holds.
    """
    return Path(profiles_root).resolve() / f"{check_agent_id(agent_id)}{LOCK_SUFFIX}"
