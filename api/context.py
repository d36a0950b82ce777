"""Everything a process of Bredgio shares: settings, the database, the crypto helpers,
and hooks other components attach (the task queue, the WebSocket hub)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from api.config import Settings
from api.db.engine import make_engine
from api.db.migrate import upgrade
from api.db.session import Database
from api.security import SessionSigner, TokenBox

if TYPE_CHECKING:
    from api.task_sink import CancelWatch


@dataclass(frozen=True)
class TaskWakeup:
    """A task became runnable (sent after its row is committed)."""

    task_id: str
    agent_id: str
    executor: str


@dataclass
class AppContext:
    settings: Settings
    db: Database
    token_box: TokenBox
    signer: SessionSigner
    # Called (after commit) whenever a task becomes runnable.
    task_wakeups: list[Callable[[TaskWakeup], None]] = field(default_factory=list)
    # Whether a live runner can serve runner agents (None: unknown, no queue configured).
    runners_online: bool | None = None
    # Called (after commit) with an agent id whenever its token is rotated or it is deleted.
    agent_revocations: list[Callable[[str], None]] = field(default_factory=list)
    # Notices the cancellation of the tasks this process runs (made on first use).
    cancel_watch: CancelWatch | None = None

    @classmethod
    def create(cls, settings: Settings, *, migrate: bool = True) -> AppContext:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings)
        if migrate:
            upgrade(engine)
        secret = settings.resolved_secret_key()
        return cls(
            settings=settings,
            db=Database(engine),
            token_box=TokenBox(secret),
            signer=SessionSigner(secret, settings.session_ttl_s),
        )

    def wake_task(self, wakeup: TaskWakeup) -> None:
        for callback in self.task_wakeups:
            callback(wakeup)

    def revoke_agent(self, agent_id: str) -> None:
        for callback in self.agent_revocations:
            callback(agent_id)
