"""Bredgio's settings: one ``BaseSettings`` root, environment prefix ``BREDGIO_``."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _snapshots_policy(value: object) -> object:
    """Booleans (and their spellings) as the policies they meant before there were three."""
    if isinstance(value, bool):
        return "always" if value else "never"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return "always"
        if word in ("false", "0", "no", "off"):
            return "never"
        return word
    return value


TraceSnapshots = Annotated[
    Literal["always", "after_failure", "never"], BeforeValidator(_snapshots_policy)
]


class SiteOrigins(BaseModel):
    facebook: str = Field("https://www.facebook.com", description="Facebook origin flows open.")
    twitter: str = Field("https://x.com", description="X origin flows open.")


class Settings(BaseSettings):
    """Every setting is an environment variable ``BREDGIO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="BREDGIO_", env_nested_delimiter="__")

    data_dir: Path = Field(
        Path("./data"),
        description="Where the SQLite file, media, profiles and the generated secret live.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is SQLite at <data_dir>/bredgio.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL; unset means an embedded Redis server under the data dir."
    )
    secret_key: str | None = Field(
        None,
        description="Signs session cookies and encrypts agent tokens; generated once and "
        "kept in <data_dir>/secret_key when unset.",
    )
    public_url: str | None = Field(
        None,
        description="The URL clients reach this server at (used for media directUrl and the "
        "extension zip); default is derived from each request.",
    )
    access_log: bool = Field(
        True, description="Log one line per HTTP request (uvicorn's access log)."
    )
    enforce_plans: bool = Field(
        False,
        description="Apply the plan gate: Free users cannot mint PATs and their PATs answer "
        "401 plan_downgraded.",
    )
    upgrade_url: str = Field(
        "/dashboard/billing", description="upgradeUrl returned with plan_upgrade_required."
    )
    session_ttl_s: int = Field(
        30 * 24 * 3600, description="Lifetime of the dashboard session cookie, in seconds."
    )
    cookie_secure: bool | None = Field(
        None,
        description="Force the Secure flag on cookies; default: set it on HTTPS and on "
        "loopback hosts (browsers treat those as secure), not on plain-HTTP LAN hosts.",
    )
    sqlite_busy_timeout_ms: int = Field(
        30_000, description="How long a SQLite writer waits for the write lock."
    )
    media_max_bytes: int = Field(10 * 1024 * 1024, description="Largest accepted upload.")
    chromium_path: str = Field(
        "/usr/bin/chromium",
        description="The Chromium binary runners launch (Debian's by default).",
    )
    runner_max_browsers: int = Field(
        4, ge=1, description="Most browsers (agents) one runner process keeps open at once."
    )
    runner_max_running: int | None = Field(
        None,
        ge=1,
        description="Most tasks one runner runs at once (default: one per open browser). "
        "The other agents' browsers stay warm and their tasks wait their turn, oldest "
        "first. On a host whose CPU is the limit, about one or two per core for all its "
        "runners together gives more posts per second than running every agent at once.",
    )
    runner_idle_close_s: float = Field(
        300.0, gt=0, description="Close an agent's browser after this long unused."
    )
    runner_poll_delay_s: float = Field(
        0.5,
        gt=0,
        description="How often a runner looks at the queue when nothing told it to: new "
        "jobs are announced to the runners, which start them at once.",
    )
    runner_headless: bool = Field(True, description="Run browsers headless.")
    runner_trace: bool = Field(
        True, description="Record a Playwright trace of every task (GET /api/tasks/:id/trace)."
    )
    runner_trace_snapshots: TraceSnapshots = Field(
        "after_failure",
        description="When traces hold DOM snapshots before and after each step (the page "
        "as it was, in the trace viewer): 'always', 'never', or 'after_failure': once a "
        "task of an agent fails, that agent's tasks record them until one completes, and "
        "so do re-runs after a runner died. They add about two thirds to a task's CPU. "
        "'true' and 'false' mean 'always' and 'never'.",
    )
    runner_trace_screenshots: bool = Field(
        False,
        description="Add a screencast to each trace (a frame every few milliseconds: with "
        "many browsers on few cores it slows tasks several times over). The trace's DOM "
        "snapshots show each step without it.",
    )
    runner_heartbeat_s: float = Field(
        5.0, gt=0, description="How often a runner renews the lease of a task it runs."
    )
    task_stale_s: float = Field(
        20.0,
        gt=0,
        description="A running task whose runner has not renewed its lease for this long "
        "is recovered (retried before its point of no return, verified after).",
    )
    reconcile_interval_s: float = Field(
        2.0, gt=0, description="How often pending tasks that Redis lost are re-enqueued."
    )
    profile_op_timeout_s: float = Field(
        90.0, gt=0, description="How long cookie import/export and login checks may take."
    )
    scheduler_in_api: bool = Field(
        True,
        description="Run the scheduler inside `bredgio api` (`bredgio up` always does). "
        "Turn off when `bredgio scheduler` runs separately; running both is safe, as each "
        "fire happens once however many schedulers run.",
    )
    scheduler_max_sleep_s: float = Field(
        1.0,
        gt=0,
        description="Longest the scheduler sleeps between looks at the schedules; it wakes "
        "sooner for the earliest nextRunAt. Schedules saved by another process are seen "
        "within this long.",
    )
    hub_ping_interval_s: float = Field(
        30.0, gt=0, description="How often the WebSocket hub pings each extension."
    )
    hub_idle_timeout_s: float = Field(
        90.0, gt=0, description="Close an extension socket that sent no frame for this long."
    )
    hub_command_timeout_s: float = Field(
        60.0, gt=0, description="End-to-end limit of one command sent to an extension."
    )
    hub_reconcile_interval_s: float = Field(
        3.0,
        gt=0,
        description="How often the hub looks for runnable tasks of extension agents (lost "
        "wake-ups, tasks whose scheduledFor arrived).",
    )
    hub_stale_sweep_interval_s: float = Field(
        60.0, gt=0, description="How often extension agents not seen lately are set offline."
    )
    hub_stale_after_s: float = Field(
        120.0, gt=0, description="An extension agent unseen for this long is set offline."
    )
    hub_seen_write_interval_s: float = Field(
        15.0, gt=0, description="Most often the hub writes an agent's lastSeenAt."
    )
    hub_presence_ttl_s: float = Field(
        30.0,
        gt=0,
        description="Lifetime of the Redis key saying which API process holds an agent's "
        "socket (refreshed every third of it).",
    )
    origins: SiteOrigins = Field(default_factory=SiteOrigins)
    facebook_origin: str | None = Field(
        None, description="Overrides origins.facebook (BREDGIO_FACEBOOK_ORIGIN)."
    )
    twitter_origin: str | None = Field(
        None, description="Overrides origins.twitter (BREDGIO_TWITTER_ORIGIN)."
    )

    @property
    def site_origins(self) -> SiteOrigins:
        return SiteOrigins(
            facebook=(self.facebook_origin or self.origins.facebook).rstrip("/"),
            twitter=(self.twitter_origin or self.origins.twitter).rstrip("/"),
        )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'bredgio.db'}"

    @property
    def media_dir(self) -> Path:
        return self.resolved_data_dir / "media"

    @property
    def profiles_dir(self) -> Path:
        return self.resolved_data_dir / "profiles"

    @property
    def artifacts_dir(self) -> Path:
        return self.resolved_data_dir / "artifacts"

    @property
    def embedded_redis_url_file(self) -> Path:
        return self.resolved_data_dir / "redis" / "url"

    def resolved_redis_url(self) -> str | None:
        """``BREDGIO_REDIS_URL``, else the embedded server's URL if one is running for
        this data dir (``bredgio up`` writes it), else None."""
        if self.redis_url:
            return self.redis_url
        path = self.embedded_redis_url_file
        return path.read_text().strip() if path.exists() else None

    def resolved_secret_key(self) -> str:
        """The configured secret, or the one generated on first use and kept in the
        data dir (mode 0600) so every process of this install shares it."""
        if self.secret_key:
            return self.secret_key
        path = self.resolved_data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_hex(32)
        try:
            with path.open("x") as fh:
                path.chmod(0o600)
                fh.write(candidate)
        except FileExistsError:
            pass  # another process won the race; use its secret
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
