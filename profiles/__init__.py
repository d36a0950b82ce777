"""Everything about a persistent browser profile: where it lives, the lease that lets
exactly one process use it, stale-lock recovery, launch options from the agent's
settings, cookie import/export and the login health check.

Must not import fastapi (nor ``api``); callers pass settings as plain values.
"""

from profiles.cookies import SESSION_COOKIE_LIFETIME_S, Cookie, export_cookies, import_cookies
from profiles.errors import InvalidAgentId, LeaseTimeout, ProfileError, ProfileInUse
from profiles.health import (
    DEFAULT_ORIGINS,
    LoginCheckFailed,
    LoginStatus,
    Platform,
    login_status,
)
from profiles.launch import BASE_ARGS, DEFAULT_CHROMIUM_PATH, launch_options
from profiles.lease import ProfileLease
from profiles.paths import check_agent_id, lease_path, profile_dir
from profiles.processes import (
    ProfileProcess,
    browser_pid,
    pid_alive,
    processes_for_profile,
    processes_under,
)
from profiles.settings import BrowserSettings, ProxySettings, Viewport
from profiles.singleton import SINGLETON_FILES, clear_stale_singleton, read_singleton_lock

__all__ = [
    "BASE_ARGS",
    "DEFAULT_CHROMIUM_PATH",
    "DEFAULT_ORIGINS",
    "SESSION_COOKIE_LIFETIME_S",
    "SINGLETON_FILES",
    "BrowserSettings",
    "Cookie",
    "InvalidAgentId",
    "LeaseTimeout",
    "LoginCheckFailed",
    "LoginStatus",
    "Platform",
    "ProfileError",
    "ProfileInUse",
    "ProfileLease",
    "ProfileProcess",
    "ProxySettings",
    "Viewport",
    "browser_pid",
    "check_agent_id",
    "clear_stale_singleton",
    "export_cookies",
    "import_cookies",
    "launch_options",
    "lease_path",
    "login_status",
    "pid_alive",
    "processes_for_profile",
    "processes_under",
    "profile_dir",
    "read_singleton_lock",
]
