"""Alembic environment: runs against the engine (or connection) Bredgio hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import api.db.models  # noqa: F401  (registers the tables on the metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = config.attributes["engine"]
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
