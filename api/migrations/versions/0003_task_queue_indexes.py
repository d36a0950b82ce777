"""Indexes for an agent's queue and pacing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_agent_status_dispatched", ["agent_id", "status", "dispatched_at"]
        )
        batch_op.create_index(
            "ix_tasks_agent_status_completed", ["agent_id", "status", "completed_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_agent_status_completed")
        batch_op.drop_index("ix_tasks_agent_status_dispatched")
