"""DirectStatement: the same rows and errors as SQLAlchemy Core, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, exc, insert, select

from api.context import AppContext
from api.db.direct import DirectStatement
from api.db.models import Task, new_id
from tests.helpers import Account

TASKS = Task.__table__  # type: ignore[attr-defined]
KEYS = ["id", "agent_id", "user_id", "action", "platform", "params", "status",
        "dispatched_at", "attempt", "timeout_sec", "updated_at"]  # fmt: skip


def _row(agent_id: str, user_id: str, when: datetime) -> dict[str, object]:
    return {
        "id": new_id(),
        "agent_id": agent_id,
        "user_id": user_id,
        "action": "post",
        "platform": "twitter",
        "params": {"content": "你好 👋\nline two", "media": [{"key": "a"}]},
        "status": "pending",
        "dispatched_at": when,
        "attempt": 1,
        "timeout_sec": 300,
        "updated_at": when,
    }


def test_rows_written_and_read_directly_match_core(
    client: TestClient, context: AppContext, alice: Account, agent_id: str
) -> None:
    when = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    row = _row(agent_id, alice.id, when)
    by_id = select(TASKS).where(TASKS.c.id == bindparam("task_id"))
    with context.db.engine.begin() as connection:
        DirectStatement(insert(TASKS), column_keys=KEYS).execute(connection, row)
        core = connection.execute(by_id, {"task_id": row["id"]}).one()
        direct = DirectStatement(by_id).first(connection, {"task_id": row["id"]})
    assert core.params == row["params"] and core.dispatched_at == when
    # A column the insert did not pass takes its column default, as with Core.
    assert core.lease_token == 0
    assert tuple(direct) == tuple(core)
    assert direct.dispatched_at.tzinfo is not None and direct.params == row["params"]


def test_a_missing_row_is_none_and_driver_errors_are_sqlalchemys(
    client: TestClient, context: AppContext, alice: Account, agent_id: str
) -> None:
    by_id = DirectStatement(select(TASKS.c.id).where(TASKS.c.id == bindparam("task_id")))
    row = _row(agent_id, alice.id, datetime.now(UTC) - timedelta(minutes=1))
    statement = DirectStatement(insert(TASKS), column_keys=KEYS)
    with context.db.engine.begin() as connection:
        assert by_id.first(connection, {"task_id": "missing"}) is None
        statement.execute(connection, row)
    with pytest.raises(exc.IntegrityError), context.db.engine.begin() as connection:
        statement.execute(connection, row)  # the same primary key


def test_expanding_parameters_are_refused(context: AppContext) -> None:
    statement = DirectStatement(
        select(TASKS.c.id).where(TASKS.c.id.in_(bindparam("ids", expanding=True)))
    )
    with context.db.engine.begin() as connection, pytest.raises(ValueError, match="expanding"):
        statement.first(connection, {"ids": ["a"]})
