"""Agents (lr_agents) with their heartbeats; search ids never reused on SQLite (AUTOINCREMENT).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lr_agents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lr_agents_heartbeat", "lr_agents", ["heartbeat_at"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite reuses the largest rowid after a delete unless the table is AUTOINCREMENT;
        # PostgreSQL's sequences never reuse one. The table is rebuilt with the keyword.
        with op.batch_alter_table(
            "lr_searches", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    op.drop_index("ix_lr_agents_heartbeat", table_name="lr_agents")
    op.drop_table("lr_agents")
