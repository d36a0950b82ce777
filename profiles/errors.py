"""Errors raised by ``profiles``.

They carry no HTTP status: ``profiles`` is used by the runner and by the API, and each
translates these into its own domain errors.
"""

from __future__ import annotations


class ProfileError(Exception):
    """Base class for everything that can go wrong with a browser profile."""


class InvalidAgentId(ProfileError, ValueError):
    """An agent id that cannot name a profile directory (only ``[A-Za-z0-9_-]`` allowed)."""


class LeaseTimeout(ProfileError, TimeoutError):
    """Another process held the profile's lease for the whole timeout.

    ``holder`` is what the holder wrote into the lock file (``pid``, ``host``, ``since``),
    or ``None`` if it could not be read.
    """

    def __init__(self, message: str, *, holder: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class ProfileInUse(ProfileError):
    """A live Chromium on this host still runs on the profile, although we hold the lease
    (an orphan of a dead runner). ``pids`` are its processes; kill them before launching."""

    def __init__(self, message: str, *, pids: list[int]) -> None:
        super().__init__(message)
        self.pids = pids
