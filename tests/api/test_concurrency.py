"""Concurrent writers on one database never fail with a lock error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func
from sqlmodel import select

from api.context import AppContext
from api.db.models import Agent, Task
from tests.helpers import Account


def test_concurrent_writers_and_readers(context: AppContext, alice: Account) -> None:
    with context.db.unit() as session:
        agent = Agent(user_id=alice.id, name="a", token_encrypted="x", token_hash="h" * 64)
        session.add(agent)
        session.flush()
        agent_id = agent.id

    def write(worker: int) -> None:
        for i in range(25):
            with context.db.unit() as session:
                # read-then-write in one transaction: the pattern that deadlocks SQLite
                # when transactions begin deferred.
                count = session.exec(
                    select(func.count()).select_from(Task).where(Task.agent_id == agent_id)
                ).one()
                session.add(
                    Task(
                        agent_id=agent_id,
                        user_id=alice.id,
                        action="post",
                        platform="facebook",
                        params={"content": f"{worker}-{i}-{count}"},
                    )
                )

    def read(_: int) -> int:
        total = 0
        for _ in range(25):
            with context.db.unit(write=False) as session:
                total = session.exec(select(func.count()).select_from(Task)).one()
        return total

    with ThreadPoolExecutor(8) as pool:
        writers = [pool.submit(write, n) for n in range(6)]
        readers = [pool.submit(read, n) for n in range(2)]
        for future in writers + readers:
            future.result()
    with context.db.unit(write=False) as session:
        assert session.exec(select(func.count()).select_from(Task)).one() == 150
